"""`make run` is never silent: each asset printed as it completes (rows), a failed step printed,
and a heartbeat naming the running step during a long one."""

import time

import dagster as dg


@dg.asset
def quick() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 42})


@dg.asset(deps=[quick])
def slow() -> None:
    time.sleep(2.5)


@dg.asset(deps=[slow])
def broken() -> None:
    raise ValueError("planted failure")


def test_progress_lines_and_heartbeat(tmp_path):
    from orchestration.progress import execute_watched

    lines: list[str] = []
    job = dg.Definitions(assets=[quick, slow, broken]).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        res = execute_watched(job, instance, lines.append, heartbeat_s=1.0, raise_on_error=False)
    assert not res.success
    text = "\n".join(lines)
    assert "✓ quick" in text and "42 rows" in text
    assert any("running: slow" in line for line in lines), lines     # the heartbeat during the long step
    assert "broken failed" in text and "planted failure" in text


def test_heartbeat_outside_a_run():
    from orchestration.progress import heartbeat

    lines: list[str] = []
    with heartbeat(lines.append, "simulating", every_s=0.4) as say:
        time.sleep(1.0)
        say("  roads: done")
    assert any("simulating" in line and "elapsed" in line for line in lines) and "  roads: done" in lines
