"""``outside-in batch`` (analysis.ops.batch): every client in its own process, isolation of failures
(bad data, invalid params, a timeout whose process tree is killed), incremental skips, the summary,
``--send`` to a real SMTP server, and the Dask path on a LocalCluster of two workers.

Notebook runs are the cost here: one batch of three tiny clients for the module (one with broken
data), one timed-out client with a sleeping notebook, and two clients on Dask. What a client runs
is not the point (the report notebook itself is tested in test_report*.py on the session's demo
run), so the project's notebook here is a light one (``notebooks/gap_report.ipynb``: intake, design
and gap table, as the report notebook starts), which keeps each client's process to a few seconds.
"""

from __future__ import annotations

import contextlib
import io as stdio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook
from test_deliver import ca, clear_smtp_env, smtp  # noqa: F401  (the SMTP server fixtures)

from analysis.cli import main
from analysis.ops import batch
from analysis.report import runner as report

FIXTURE = Path(__file__).parent / "fixtures" / "clients" / "tiny"
LAST_GOOD = "<p>last good report</p>"


def make_project(root: Path, clients: dict[str, str]) -> Path:
    """A project root with the tiny client's data under several slugs, and a light report
    notebook of its own (:data:`LIGHT_NOTEBOOK`).

    ``clients`` maps slug to ``"good"`` or ``"broken"`` (every row has a segment value the
    codebook does not list: the notebook's intake cell fails).
    """
    shutil.copytree(FIXTURE / "data", root / "data")
    (root / "params").mkdir(parents=True)
    (root / "notebooks").mkdir()
    write_notebook(root / "notebooks" / "gap_report.ipynb", *LIGHT_NOTEBOOK)
    base = yaml.safe_load((FIXTURE / "params" / "tiny.yaml").read_text())
    for slug, kind in clients.items():
        params = dict(base, client=slug, report={"recipients": [f"cx@{slug}.example"]})
        if kind == "broken":
            raw = root / "data" / "raw" / slug
            raw.mkdir(parents=True)
            shutil.copy(root / "data" / "raw" / "tiny" / "codebook.yaml", raw / "codebook.yaml")
            lines = (root / "data" / "raw" / "tiny" / "responses.csv").read_text().splitlines()
            bad = [lines[0]] + [re.sub(r",(Basic|Plus|Premium),", ",Gold,", ln) for ln in lines[1:]]
            (raw / "responses.csv").write_text("\n".join(bad) + "\n")
            params["survey"] = f"data/raw/{slug}/responses.csv"
            params["codebook"] = f"data/raw/{slug}/codebook.yaml"
        (root / "params" / f"{slug}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def seed_last_good(root: Path, slug: str) -> bytes:
    out = root / "reports" / slug
    out.mkdir(parents=True)
    (out / "report.html").write_text(LAST_GOOD)
    return (out / "report.html").read_bytes()


KERNELSPEC = {
    "kernelspec": {"name": "outside-in", "display_name": "Outside-In", "language": "python"}
}


# the report notebook's first steps: the client, intake (cell 2), design, gap table and the
# priority ranking (what an email names)
LIGHT_NOTEBOOK = (
    "from analysis.ops import pipeline\nfrom analysis.report import runner\n"
    "client = runner.open_client(params_file, root)",
    "data = pipeline.intake(client)",
    "design = pipeline.survey_design(client, data.clean)\n"
    "table = pipeline.gap_table(client, data.clean, design)\n"
    "ranked = pipeline.priorities(client, pipeline.shown_gaps(client, table))",
)


def write_notebook(path: Path, *sources: str) -> Path:
    """A small report notebook: the parameters cell, then ``sources``."""
    cells = [new_code_cell('params_file = "x"\nroot = "."', metadata={"tags": ["parameters"]})]
    nbformat.write(
        new_notebook(cells=cells + [new_code_cell(s) for s in sources], metadata=KERNELSPEC), path
    )
    return path


def run_cli(*args: str) -> tuple[int, str]:
    out = stdio.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def processes_in(root: Path) -> list[psutil.Process]:
    """Processes whose working directory is under ``root`` (client processes and kernels)."""
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if Path(p.cwd()).is_relative_to(root):
                found.append(p)
    return found


# ---------------------------------------------------------------------------------------------
# one batch of three clients (plus an invalid params file), run once for the module


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory):
    root = make_project(
        tmp_path_factory.mktemp("batch") / "project", {"a": "good", "b": "good", "c": "broken"}
    )
    (root / "params" / "d.yaml").write_text(
        (root / "params" / "a.yaml").read_text().replace("client: a", "client: d")
        + "colour: blue\n"
    )
    before = seed_last_good(root, "c")
    t0 = time.perf_counter()
    code, out = run_cli("batch", "--root", str(root), "--jobs", "2", "--timeout", "300")
    return root, code, out, before, time.perf_counter() - t0


@pytest.mark.slow
def test_a_failing_client_never_stops_or_touches_the_others(three):
    root, code, out, before, _ = three
    assert code == 1  # c and d failed
    lines = {ln.split()[0]: ln for ln in out.splitlines()[2:6]}
    assert re.match(r"a\s+ok\s+38 of 40\s+\d+\.\d s\s+reports/a/report\.html$", lines["a"])
    assert re.match(r"b\s+ok\s+38 of 40\s+\d+\.\d s\s+reports/b/report\.html$", lines["b"])
    assert re.match(r"c\s+failed\s+-\s+\d+\.\d s\s+gap_report\.ipynb for c: cell 2", lines["c"])
    assert "DataError" in lines["c"] and "(log: data/processed/c/run.log)" in lines["c"]
    assert re.match(r"d\s+failed\s+-\s+0\.0 s\s+.*d\.yaml: unknown key 'colour'", lines["d"])
    assert out.splitlines()[-1] == "4 clients: 2 ok; 2 failed"
    for slug in ("a", "b"):
        html = (root / "reports" / slug / "report.html").read_text()
        assert "Tiny Telecom customer expectations" in html
        manifest = json.loads((root / "data" / "processed" / slug / "manifest.json").read_text())
        assert manifest["client"] == slug and manifest["rows"]["accepted"] == 38
        assert manifest["package"] == report.package_fingerprint()
        assert manifest["outputs"]["gap_table"]["sha256"]
    # the broken client's last good report is untouched, and no stray files were left
    assert (root / "reports" / "c" / "report.html").read_bytes() == before
    assert sorted(p.name for p in (root / "reports" / "c").iterdir()) == ["report.html"]
    assert not (root / "data" / "processed" / "c" / "manifest.json").exists()
    assert processes_in(root) == []


@pytest.mark.slow
def test_the_batch_writes_the_index_of_its_clients(three):
    root, *_ = three
    html = (root / "reports" / "index.html").read_text(encoding="utf-8")
    rows = dict(re.findall(r'<tr id="client-([a-z0-9-]+)">(.*?)</tr>', html, re.S))
    assert sorted(rows) == ["a", "b", "c", "d"]
    for slug in ("a", "b"):
        assert ">OK<" in rows[slug] and f'<a href="{slug}/report.html">Report</a>' in rows[slug]
        assert "38 of 40" in rows[slug]
    # c's notebook failed: its error and log, and its last good report still linked
    assert ">Failed<" in rows["c"] and "gap_report.ipynb for c: cell 2" in rows["c"]
    assert '<a href="../data/processed/c/run.log">log</a>' in rows["c"]
    assert '<a href="c/report.html">Report</a>' in rows["c"]
    # d's params are invalid: its error, no report
    assert ">Failed<" in rows["d"] and "unknown key &#39;colour&#39;" in rows["d"]
    assert "Report</a>" not in rows["d"]
    assert "<script" not in html.lower()


@pytest.mark.slow
def test_clients_run_in_parallel_processes(three):
    root, *_, seconds = three
    runs = [
        json.loads((root / "data" / "processed" / s / "manifest.json").read_text())
        for s in ("a", "b")
    ]
    # a and b ran at the same time (two jobs): their run intervals overlap
    assert max(r["started"] for r in runs) <= min(r["finished"] for r in runs)
    assert seconds < sum(r["seconds"] for r in runs) + 30


@pytest.mark.slow
def test_unchanged_clients_are_skipped_and_sent(three, smtp, tmp_path: Path):  # noqa: F811
    root, *_ = three
    code, out = run_cli(
        "batch", "params/a.yaml", "params/b.yaml", "--root", str(root), "--send", "--no-pdf"
    )
    assert code == 0, out
    assert re.search(r"a\s+skipped\s+38 of 40\s+-\s+sent \(1\)\s+reports/a/report\.html", out)
    assert re.search(r"b\s+skipped\s+38 of 40\s+-\s+sent \(1\)\s+reports/b/report\.html", out)
    got = sorted((m.rcpt_tos, m.message()["Subject"]) for m in smtp.inbox.messages)
    title = "Your report: Tiny Telecom customer expectations (test fixture)"
    assert got == [(["cx@a.example"], title), (["cx@b.example"], title)]
    for m in smtp.inbox.messages:
        slug = m.rcpt_tos[0][3]
        attached = next(p for p in m.message().walk() if p.get_filename())
        html = (root / "reports" / slug / "report.html").read_bytes()
        assert attached.get_payload(decode=True) == html
    # sent once: a second batch --send sends nothing
    code, out = run_cli("batch", "params/a.yaml", "--root", str(root), "--send", "--no-pdf")
    assert code == 0 and "already sent" in out and len(smtp.inbox.messages) == 2


@pytest.mark.slow
def test_what_makes_a_client_run_again(three, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = Path(shutil.copytree(three[0], tmp_path / "copy"))
    params = root / "params" / "a.yaml"

    def plan(**kw) -> batch.Plan:
        return batch.plan_client(params, root, **kw)

    assert (plan().action, plan().reason) == ("skip", "unchanged since the last good run")
    assert plan().rows == {"received": 40, "accepted": 38, "rejected": 2}
    assert (plan(force=True).action, plan(force=True).reason) == ("run", "--force")
    other_nb = tmp_path / "other.ipynb"
    other_nb.write_text(report.PACKAGED_NOTEBOOK.read_text() + "\n")
    assert plan(notebook=other_nb).reason == "changed: notebook"
    monkeypatch.setattr(report, "package_fingerprint", lambda: {"version": "9", "sha256": "x"})
    assert plan().reason == "changed: Outside-In package"
    monkeypatch.undo()
    survey = root / "data" / "raw" / "tiny" / "responses.csv"
    survey.write_text(survey.read_text() + "\n")
    assert plan().reason == "changed: survey"
    params.write_text(params.read_text() + "# a comment\n")
    assert plan().reason == "changed: params, survey"
    (root / "reports" / "a" / "report.html").write_text("<p>edited</p>")
    assert plan().reason.endswith("survey, report.html on disk")
    shutil.rmtree(root / "data" / "processed" / "a")
    assert plan().reason == "no previous good run"


# ---------------------------------------------------------------------------------------------
# no notebook runs


def test_two_params_files_for_one_client_both_fail(tmp_path: Path):
    root = make_project(tmp_path / "p", {"a": "good"})
    shutil.copy(root / "params" / "a.yaml", root / "params" / "a-copy.yaml")
    outcomes = batch.run_batch(root=root)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "slug 'a' is used by more than one params file (a-copy.yaml, a.yaml)" in str(
        outcomes[0].error
    )
    # nothing ran: the reports folder holds only the index page, which lists both as failed
    assert sorted(p.name for p in (root / "reports").iterdir()) == ["index.html"]
    with pytest.raises(batch.BatchError, match="no params files found"):
        batch.run_batch(root=tmp_path)


def test_batch_send_without_smtp_settings_stops_before_running(tmp_path: Path, monkeypatch, capsys):
    root = make_project(tmp_path / "p", {"a": "good"})
    clear_smtp_env(monkeypatch)
    assert main(["batch", "--root", str(root), "--send"]) == 2
    assert "SMTP_HOST and SMTP_FROM" in capsys.readouterr().err
    assert not (root / "reports").exists()


def test_summary_table():
    p = Path("/x/params/a.yaml")
    outcomes = [
        batch.Outcome(
            "a", p, "ok", 6.04, {"received": 1200, "accepted": 1190}, Path("/x/r/a.html")
        ),
        batch.Outcome("bb", p, "timeout", 300.0, error="did not finish within 5.0 min"),
        batch.Outcome("c", p, "skipped", 0.0, {"received": 40, "accepted": 38}, Path("/y/c.html")),
    ]
    assert batch.summary_table(outcomes, Path("/x")).splitlines() == [
        "client  status   rows            duration  report / error",
        "------  -------  --------------  --------  --------------",
        "a       ok       1,190 of 1,200  6.0 s     r/a.html",
        "bb      timeout  -               5.0 min   did not finish within 5.0 min",
        "c       skipped  38 of 40        -         /y/c.html",
        "3 clients: 1 ok; 1 skipped; 1 timeout",
    ]


# ---------------------------------------------------------------------------------------------
# warm workers: one process runs a job's clients one after another; a crash costs one client


def test_a_warm_worker_runs_clients_in_turn_and_a_crash_fails_one_client(tmp_path: Path):
    root = make_project(tmp_path / "p", {"a": "good", "b-crash": "good", "c": "good"})
    nb = write_notebook(
        root / "worker.ipynb",
        *LIGHT_NOTEBOOK,
        # the kernel's parent is the worker process: record it, and kill it for b-crash
        "import os, signal\n"
        'open(f"worker-{os.getppid()}.txt", "a").write(client.slug + "\\n")\n'
        'if client.slug == "b-crash":\n'
        "    os.kill(os.getppid(), signal.SIGKILL)",
    )
    options = batch.BatchOptions(notebook=nb, jobs=1, force=True, pdf=False, timeout=120)
    outcomes = {o.client: o for o in batch.run_batch(root=root, options=options)}
    assert [outcomes[s].status for s in ("a", "b-crash", "c")] == ["ok", "failed", "ok"]
    assert "ended with exit code -9 without a result" in (outcomes["b-crash"].error or "")
    assert outcomes["b-crash"].log == root / "data" / "processed" / "b-crash" / "run.log"
    # a and b-crash ran in one worker, one after the other; c in a new one
    ran = {p.read_text(): p.name for p in root.glob("worker-*.txt")}
    assert ran.keys() == {"a\nb-crash\n", "c\n"}
    # each client's log has its own run only (the worker's output followed its client)
    assert "b-crash" not in (root / "data" / "processed" / "a" / "run.log").read_text()
    for slug in ("a", "c"):
        assert (root / "reports" / slug / "report.html").is_file()
    assert not (root / "reports" / "b-crash").exists()
    deadline = time.monotonic() + 10  # the crashed worker's kernel sees its parent gone
    while processes_in(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in(root) == []


def test_client_env_caps_blas_threads_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from analysis.ops import isolated

    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    monkeypatch.setenv("SMTP_PASSWORD", "secret")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = isolated._client_env(str(tmp_path), threads=1)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["MKL_NUM_THREADS"] == "3" and env["TMPDIR"] == str(tmp_path)
    assert "SMTP_PASSWORD" not in env
    assert "OPENBLAS_NUM_THREADS" not in isolated._client_env(None)  # one job: no cap


# ---------------------------------------------------------------------------------------------
# a client that runs past its timeout


def test_a_timed_out_client_is_killed_with_its_kernel(tmp_path: Path):
    root = make_project(tmp_path / "p", {"slow": "good"})
    before = seed_last_good(root, "slow")
    write_notebook(
        root / "sleepy.ipynb",
        "import json, os, time\nfrom ipykernel import get_connection_file\n"
        "ip = json.load(open(get_connection_file()))['ip']\n"
        'open("kernel.pid", "w").write(f"{os.getpid()} {get_connection_file()} {ip}")\n'
        "time.sleep(300)",
    )
    t0 = time.perf_counter()
    code, out = run_cli(
        "batch", "--root", str(root), "--notebook", str(root / "sleepy.ipynb"), "--timeout", "6"
    )
    elapsed = time.perf_counter() - t0
    assert code == 1
    assert re.search(r"slow\s+timeout\s+-\s+6\.\d s\s+did not finish within 6\.0 s", out)
    assert elapsed < 15
    assert processes_in(root) == []  # the client process and its kernel are gone
    pid_file = root / "kernel.pid"
    if pid_file.exists():  # the kernel got as far as the sleeping cell
        pid, connection_file, ip = pid_file.read_text().split(" ")
        assert not psutil.pid_exists(int(pid)) or (
            psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
        )
        # no leftovers: the connection file, the IPC socket files and their folders are gone
        assert not Path(connection_file).exists()
        assert Path(ip).parent.name.startswith("oi-") and not Path(ip).parent.exists()
        assert Path(ip).parents[1].name.startswith("oib-") and not Path(ip).parents[1].exists()
    assert (root / "reports" / "slow" / "report.html").read_bytes() == before
    assert sorted(p.name for p in (root / "reports" / "slow").iterdir()) == ["report.html"]


def test_stopping_the_batch_stops_its_clients(tmp_path: Path):
    """SIGTERM (or Ctrl-C) on ``outside-in batch`` kills the clients' processes and kernels,
    which run in sessions of their own."""
    root = make_project(tmp_path / "p", {"slow": "good"})
    nb = write_notebook(
        root / "sleepy.ipynb",
        'import os, time\nopen("kernel.pid", "w").write(str(os.getpid()))\ntime.sleep(300)',
    )
    cli = Path(sys.executable).with_name("outside-in")
    proc = subprocess.Popen(
        [str(cli), "batch", "--root", str(root), "--notebook", str(nb)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (root / "kernel.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (root / "kernel.pid").exists(), proc.stderr
    assert len(processes_in(root)) >= 2  # the client process and its kernel
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    assert processes_in(root) == []
    assert not (root / "reports").exists()


# ---------------------------------------------------------------------------------------------
# Dask


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        worker_dashboard_address=None,
    ) as c:
        yield c


def test_batch_on_a_dask_cluster(cluster, tmp_path: Path):
    root = make_project(tmp_path / "p", {"a": "good", "c": "broken"})
    before = seed_last_good(root, "c")
    # what runs is not the point here: a light notebook (intake only) keeps the test quick
    nb = write_notebook(
        root / "intake.ipynb",
        "from analysis.ops import pipeline\nfrom analysis.report import runner\n"
        "data = pipeline.intake(runner.open_client(params_file, root))",
    )
    address = cluster.scheduler_address
    code, out = run_cli("batch", "--root", str(root), "--notebook", str(nb), "--scheduler", address)
    assert code == 1, out
    assert re.search(r"a\s+ok\s+38 of 40\s+\d+\.\d s\s+reports/a/report\.html", out)
    assert re.search(r"c\s+failed\s+-\s+\d+\.\d s\s+intake\.ipynb for c: cell 1", out)
    assert (root / "reports" / "c" / "report.html").read_bytes() == before
    manifest = json.loads((root / "data" / "processed" / "a" / "manifest.json").read_text())
    assert manifest["rows"]["accepted"] == 38
    # again: a is unchanged, so there is no task and the scheduler is not even contacted
    code, out = run_cli(
        "batch",
        "params/a.yaml",
        "--root",
        str(root),
        "--notebook",
        str(nb),
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert code == 0 and re.search(r"a\s+skipped", out)  # no task: the scheduler is not needed
