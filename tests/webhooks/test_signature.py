"""The verifier alone: a property test over bodies and secrets, and the accepted formats."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from django_axme.services.webhooks import sign, verify_signature

secrets = st.text(min_size=16, max_size=64)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=512), secret=secrets, other=secrets, flip=st.integers(0, 4095))
def test_only_the_exact_body_under_a_configured_secret_verifies(body, secret, other, flip):
    header = sign(body, secret)
    assert verify_signature(body, header, [secret])
    assert verify_signature(body, header, [other, secret])  # rotation: any configured one
    if other != secret:
        assert not verify_signature(body, header, [other])
    if body:
        tampered = bytearray(body)
        tampered[flip % len(body)] ^= 1 << (flip % 8)
        assert not verify_signature(bytes(tampered), header, [secret])


def test_accepted_header_formats():
    body, secret = b'{"a": 1}', "s" * 16
    hexdigest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for header in (
        f"sha256={hexdigest}",
        hexdigest,
        hexdigest.upper(),
        f"  SHA256={hexdigest} ",
        f"sha256={'0' * 64}, sha256={hexdigest}",
    ):
        assert verify_signature(body, header, [secret]), header
    for header in (None, "", "sha1=" + hexdigest, "sha256=" + hexdigest[:-1], "x" * 2000):
        assert not verify_signature(body, header, [secret]), header
    assert not verify_signature(body, hexdigest, [])
