"""Progress from workers at a bounded rate (``widgets/job_progress``)."""

from irpa_tui.widgets.job_progress import at_rate


def test_progress_reaches_the_interface_at_a_bounded_rate_and_always_at_the_end():
    now = [0.0]
    seen: list[tuple[int, int]] = []
    progress = at_rate(lambda done, total: seen.append((done, total)), rate=20, clock=lambda: now[0])
    for t, done in ((0.0, 1), (0.01, 2), (0.04, 3), (0.06, 4), (0.07, 5), (0.08, 10)):
        now[0] = t
        progress(done, 10)
    assert seen == [(1, 10), (4, 10), (10, 10)]  # 20 a second: one each 0.05 s; the last one always
