"""The rebuild progress meter: drawn in place on a terminal at most every 0.2 s, silent
elsewhere, with a summary line at the end."""

from __future__ import annotations

import io

from ops.progress import CLEAR_LINE, Meter, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_redraws_the_line_in_place_at_most_every_interval() -> None:
    stream, clock = Terminal(), Clock()
    meter = Meter("users", stream, interval=0.2, clock=clock)

    clock.now += 1.0
    meter(500, 2000)
    clock.now += 0.1
    meter(550, 2000)  # too soon: not drawn
    clock.now += 0.9
    meter(1000, 2000)

    assert stream.getvalue() == (
        f"{CLEAR_LINE}users: 500/2,000 events (25%), 500 events/s, ETA 3s"
        f"{CLEAR_LINE}users: 1,000/2,000 events (50%), 500 events/s, ETA 2s"
    )


def test_meter_erases_its_line_and_sums_up_when_done() -> None:
    stream, clock = Terminal(), Clock()
    meter = Meter("users", stream, clock=clock)
    clock.now += 4.0
    meter(2000, 2000)

    summary = meter.finish(2000)

    assert stream.getvalue().endswith(CLEAR_LINE)
    assert summary == "2000 events in 4.0 s, 500 events/s"


def test_meter_draws_nothing_when_not_on_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    meter = Meter("users", stream, clock=clock)
    clock.now += 1.0

    meter(10, 20)
    summary = meter.finish(20)

    assert stream.getvalue() == ""
    assert summary == "20 events in 1.0 s, 20 events/s"


def test_eta_is_shown_in_seconds_minutes_or_hours() -> None:
    assert [duration(s) for s in (0.4, 42, 185, 7620)] == ["0s", "42s", "3m05s", "2h07m"]
