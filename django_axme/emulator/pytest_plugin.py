"""pytest fixtures for projects that install django-axme (registered via ``pytest11``)."""
