"""Operations that ask AXME and hand the answer to the one writer (``django_axme.sync``)."""
