"""Times as lists and messages show them (engine.clock)."""

import pytest

from engine.clock import clock


@pytest.mark.parametrize(
    "seconds, whole, tenths",
    [
        (0.0, "0:00", "0:00.0"),
        (59.9976, "0:59", "1:00.0"),  # a start the CLI once printed as 0:60.0
        (60.04, "1:00", "1:00.0"),
        (109.13, "1:49", "1:49.1"),
        (3599.96, "59:59", "60:00.0"),
    ],
)
def test_a_time_reads_as_minutes_and_seconds_and_never_shows_sixty_seconds(seconds, whole, tenths):
    assert clock(seconds) == whole
    assert clock(seconds, tenths=True) == tenths
