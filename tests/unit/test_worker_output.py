"""A job's output on its way to the store: decoding, masking, batching, muting."""

from __future__ import annotations

import time

import pytest

import infrastructure.worker.output as output
from infrastructure.worker.output import LogStream, Turn


class FakeStore:
    """The output store port, in memory."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, int, str]] = []

    def append(self, build_id: int, job_id: int, text: str) -> int:
        self.chunks.append((build_id, job_id, text))
        return len(self.chunks)

    def text(self) -> str:
        return "".join(chunk for _, _, chunk in self.chunks)


def test_a_character_split_between_reads_is_decoded_whole() -> None:
    store = FakeStore()
    stream = LogStream(store, 1, 2, [])
    data = "héllo wörld\n".encode()

    for i in range(len(data)):
        stream.write(data[i : i + 1])
    stream.close()

    assert store.text() == "héllo wörld\n"
    assert {(b, j) for b, j, _ in store.chunks} == {(1, 2)}


def test_invalid_bytes_become_replacement_characters() -> None:
    store = FakeStore()
    stream = LogStream(store, 1, 2, [])

    stream.write(b"ok \xff\xfe end\n")
    stream.close()

    assert store.text() == "ok \ufffd\ufffd end\n"


def test_a_secret_written_in_pieces_never_reaches_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "FLUSH_INTERVAL", 0.0)  # append after every write
    store = FakeStore()
    stream = LogStream(store, 1, 2, ["hunter2-password"])

    for piece in (b"pass: hun", b"ter2-pa", b"", b"ssword\n", b"bye"):
        stream.write(piece)
    stream.close()

    assert store.text() == "pass: xxxxxx\nbye"
    assert not any("hunter2" in chunk for _, _, chunk in store.chunks)


def test_writes_within_the_flush_interval_are_batched_and_a_tick_flushes_them() -> None:
    store = FakeStore()
    stream = LogStream(store, 1, 2, [])

    stream.write(b"one\n")
    stream.write(b"two\n")
    batched = list(store.chunks)
    time.sleep(output.FLUSH_INTERVAL + 0.05)
    stream.write(b"")  # the driver's idle tick

    assert batched == []
    assert store.chunks == [(1, 2, "one\ntwo\n")]


def test_a_muted_stream_stores_nothing() -> None:
    store = FakeStore()
    muted = False
    stream = LogStream(store, 1, 2, [], muted=lambda: muted)
    stream.line("before")
    stream.flush()

    muted = True
    stream.line("after")
    stream.close()

    assert store.text() == "before\n"


def test_streams_taking_turns_store_their_text_in_the_order_written() -> None:
    store = FakeStore()
    turn = Turn()
    build_log = LogStream(store, 1, 0, [], turn=turn)
    job_log = LogStream(store, 1, 5, [], turn=turn)

    build_log.line("Running job test...")  # within the flush interval: still buffered
    job_log.write(b"+ make\n")
    build_log.line("Job test passed")
    job_log.close()
    build_log.close()

    assert store.chunks == [
        (1, 0, "Running job test...\n"),
        (1, 5, "+ make\n"),
        (1, 0, "Job test passed\n"),
    ]


def test_the_end_of_a_jobs_input_releases_what_the_masker_held_back() -> None:
    store = FakeStore()
    turn = Turn()
    build_log = LogStream(store, 1, 0, ["hunter2-password"], turn=turn)
    job_log = LogStream(store, 1, 5, ["hunter2-password"], turn=turn)

    job_log.write(b"no newline, then hunter")  # a possible secret's start is held back
    job_log.end_of_input()
    build_log.line("Job test passed")
    job_log.close()
    build_log.close()

    assert "".join(text for _, _, text in store.chunks) == (
        "no newline, then hunter" + "Job test passed\n"
    )
    assert [job for _, job, _ in store.chunks] == [5, 0]
