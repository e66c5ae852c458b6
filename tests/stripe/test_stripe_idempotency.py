import uuid

import pytest

from platform_service.stripe.idempotency import MAX_KEY_LENGTH, idempotency_key, retry_key


def test_key_is_readable_and_stable_for_plain_parts():
    job = uuid.UUID("0f8e4c1a-8d3f-4b5e-9a61-1c2b3d4e5f60")
    key = idempotency_key("bulk", job, "acct_123", 7)
    assert key == "bulk:0f8e4c1a-8d3f-4b5e-9a61-1c2b3d4e5f60:acct_123:7"
    assert idempotency_key("bulk", job, "acct_123", 7) == key


def test_keys_differ_when_any_part_differs():
    keys = {
        idempotency_key("bulk", "job_1", "acct_1", 1),
        idempotency_key("bulk", "job_1", "acct_1", 2),
        idempotency_key("bulk", "job_1", "acct_2", 1),
        idempotency_key("bulk", "job_2", "acct_1", 1),
        idempotency_key("portal", "job_1", "acct_1", 1),
    }
    assert len(keys) == 5


def test_awkward_parts_are_hashed_without_ambiguity():
    a = idempotency_key("upload", "a:b", "c")
    b = idempotency_key("upload", "a", "b:c")
    assert a != b
    assert a.startswith("upload#")
    assert len(a) <= MAX_KEY_LENGTH
    assert a == idempotency_key("upload", "a:b", "c")


def test_long_keys_are_hashed_under_stripes_limit():
    key = idempotency_key("bulk", "x" * 300, "acct_1")
    assert len(key) <= MAX_KEY_LENGTH
    assert key == idempotency_key("bulk", "x" * 300, "acct_1")


@pytest.mark.parametrize("namespace", ["", "has space", "a:b", "n" * 65])
def test_namespace_must_be_a_short_plain_token(namespace):
    with pytest.raises(ValueError, match="namespace"):
        idempotency_key(namespace, "x")


def test_a_namespace_alone_is_not_a_key():
    with pytest.raises(ValueError, match="at least one part"):
        idempotency_key("bulk")


def test_retry_keys_are_derived_and_fit_stripes_limit():
    assert retry_key("bulk:job:acct_1:v", 1) == "bulk:job:acct_1:v:r1"
    assert retry_key("bulk:job:acct_1:v", 2) == "bulk:job:acct_1:v:r2"
    long = "k" * MAX_KEY_LENGTH
    assert len(retry_key(long, 1)) <= MAX_KEY_LENGTH
    assert retry_key(long, 1) == retry_key(long, 1) != retry_key(long, 2)
    with pytest.raises(ValueError, match="generation"):
        retry_key("k", 0)
