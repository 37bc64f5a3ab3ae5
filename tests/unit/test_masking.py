"""Masking build output: whole secrets, secrets line by line, secrets split across writes."""

from __future__ import annotations

import random

import pytest

from infrastructure.masking import MASK, Masker, mask_all, patterns

SECRETS = [
    "hunter2-password",
    "s3cr3t",
    "s3cr3t-longer-value",  # the shorter one is a prefix of it
    "aaaaab",  # a run of one character: partial matches overlap
    "-----BEGIN KEY-----\nMIIEvQIBADANBg\n  kqhkiG9w0BAQEF\n-----END KEY-----\n",
]


def masked_in_pieces(text: str, values: list[str], cuts: list[int]) -> tuple[str, list[str]]:
    """Feed `text` cut at `cuts`; the joined output and every piece that was emitted."""
    masker = Masker(values)
    pieces, start = [], 0
    for cut in [*sorted(cuts), len(text)]:
        pieces.append(masker.feed(text[start:cut]))
        start = cut
    pieces.append(masker.flush())
    return "".join(pieces), pieces


def random_stream(rng: random.Random) -> str:
    """Noise with secrets, partial secrets and secret lines mixed in."""
    parts = []
    for _ in range(rng.randint(1, 30)):
        choice = rng.random()
        if choice < 0.3:
            parts.append(rng.choice(SECRETS))
        elif choice < 0.5:
            secret = rng.choice(SECRETS)
            parts.append(secret[: rng.randint(1, len(secret))])  # a prefix: must stay
        elif choice < 0.6:
            parts.append(rng.choice(SECRETS[-1].splitlines()))
        else:
            alphabet = "as3cr-\n xyzhunte2b"
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))
    return "".join(parts)


def test_patterns_are_the_non_blank_lines_of_each_value_longest_first() -> None:
    found = patterns(["abc", "line-one\n\n   \n  line-two  \r\n", "abc"])

    assert found == ["line-one", "line-two", "abc"]


def test_a_whole_secret_is_replaced_everywhere() -> None:
    text = "password=hunter2-password; again hunter2-password\n"

    assert mask_all(text, ["hunter2-password"]) == f"password={MASK}; again {MASK}\n"


def test_each_line_of_a_multi_line_secret_is_masked_even_when_printed_alone() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"

    out = mask_all("the middle: MIIEvQIBADANBg\nall:\n" + key, [key])

    assert "MIIEvQIBADANBg" not in out
    assert out == f"the middle: {MASK}\nall:\n{MASK}\n{MASK}\n{MASK}"


def test_the_longest_secret_wins_at_one_position() -> None:
    out = mask_all("s3cr3t-longer-value and s3cr3t", ["s3cr3t", "s3cr3t-longer-value"])

    assert out == f"{MASK} and {MASK}"


def test_a_secret_split_across_two_writes_is_masked() -> None:
    masker = Masker(["hunter2-password"])

    first = masker.feed("login hunter2-pa")
    second = masker.feed("ssword ok\n")

    assert first == "login "  # the possible start of the secret is held back
    assert second == f"{MASK} ok\n"
    assert masker.flush() == ""


def test_text_that_cannot_begin_a_secret_is_emitted_at_once() -> None:
    masker = Masker(["hunter2-password"])

    assert masker.feed("building...\n") == "building...\n"
    assert masker.pending == ""


def test_a_prefix_of_a_secret_at_the_end_of_the_stream_is_emitted_on_flush() -> None:
    masker = Masker(["hunter2-password"])

    held = masker.feed("almost hunter2")

    assert held == "almost "
    assert masker.flush() == "hunter2"


def test_no_values_means_no_masking_and_nothing_held() -> None:
    masker = Masker([])

    assert masker.feed("hunter2") == "hunter2"
    assert masker.flush() == ""


@pytest.mark.parametrize("seed", range(300))
def test_random_splits_never_emit_a_secret_and_equal_masking_the_whole(seed: int) -> None:
    rng = random.Random(seed)
    text = random_stream(rng)
    cuts = [rng.randint(0, len(text)) for _ in range(rng.randint(0, 12))]
    if rng.random() < 0.2:
        cuts = list(range(len(text)))  # one character at a time

    out, pieces = masked_in_pieces(text, SECRETS, cuts)

    assert out == mask_all(text, SECRETS)
    for secret_line in patterns(SECRETS):
        assert secret_line not in out
        # What a reader of the stored chunks sees, chunk by chunk and as a whole.
        assert all(secret_line not in piece for piece in pieces)


def test_every_split_of_a_secret_between_two_writes_is_masked() -> None:
    secret = "hunter2-password"
    text = f"a {secret} b"

    for cut in range(len(text) + 1):
        out, pieces = masked_in_pieces(text, [secret], [cut])

        assert out == f"a {MASK} b", cut
        assert not any(secret[:8] in piece for piece in pieces), cut
