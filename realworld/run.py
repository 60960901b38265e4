#!/usr/bin/env python3
"""driftbot on real open-source projects as they ship on PyPI (issue 10, "real-world corpus").

    python realworld/run.py all             # every project in projects.toml, one after another
    python realworld/run.py optuna buildbot # some of them
    python realworld/run.py report          # only rewrite RESULTS.md from realworld/results/*.json

For each project: one virtualenv under the cache dir (DRIFTBOT_REALWORLD_CACHE, default
~/.cache/driftbot-realworld) with the pinned release and driftbot from this checkout (editable);
then
  1. `driftbot check` on the installed release (its migrations vs its models), flags only, timed;
  2. plain `alembic upgrade head` + `alembic check` (or the project's own equivalent) on a fresh
     database of one local PostgreSQL started with driftbot's own provider, timed;
  3. each planted model change, made in a scratch copy of the installed package that is put first
     on PYTHONPATH, checked with `driftbot check`: was it found, did the suggestion verify.
Raw results go to realworld/results/NAME.json; RESULTS.md is rendered from them plus the
judgements in judgements.toml (written by a person who read the migrations and the models).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("DRIFTBOT_REALWORLD_CACHE", Path.home() / ".cache" / "driftbot-realworld"))
RESULTS = HERE / "results"
DUMMY_URL = "postgresql://app:secret@db.invalid:5432/app"  # what env vars hold for driftbot runs: it must route them
TIMEOUT = int(os.environ.get("DRIFTBOT_REALWORLD_TIMEOUT", "1200"))


def driftbot_snapshot() -> tuple[Path, str]:
    """driftbot as committed in this checkout (HEAD, or DRIFTBOT_REALWORLD_REF), exported once per commit.

    Other people edit driftbot/*.py in the working tree while a corpus run takes an hour; the runs
    use the committed state so that every project sees the same driftbot. DRIFTBOT_REALWORLD_REF=WORKTREE
    uses the working tree itself (editable), as it is.
    """
    ref = os.environ.get("DRIFTBOT_REALWORLD_REF", "HEAD")
    if ref == "WORKTREE":  # recorded as HEAD's commit plus "+worktree" (uncommitted edits included)
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
        return REPO, f"{head}+worktree"
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    dest = CACHE / "driftbot-src" / sha
    if not (dest / "pyproject.toml").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, sha


DRIFTBOT_SRC, DRIFTBOT_SHA = driftbot_snapshot()
sys.path.insert(0, str(DRIFTBOT_SRC))
try:
    from driftbot.postgres.local import local_server  # noqa: F401
except ImportError:  # driftbot's dependencies: run under the repository's virtualenv
    venv_python = REPO / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
    raise


def load_projects() -> dict[str, dict]:
    with open(HERE / "projects.toml", "rb") as fh:
        return tomllib.load(fh)["projects"]


def load_judgements() -> dict:
    path = HERE / "judgements.toml"
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def log(msg: str) -> None:
    print(f"[realworld {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- environments


def venv_of(name: str) -> Path:
    return CACHE / "venvs" / name


def ensure_venv(name: str, spec: dict) -> Path:
    venv = venv_of(name)
    want = " ".join([spec["package"], *spec.get("extra", [])])
    marker = venv / ".installed"
    if marker.exists() and marker.read_text().strip() == want:
        installed = venv / ".driftbot-sha"
        if (
            not installed.exists()
            or installed.read_text().strip() != DRIFTBOT_SHA
            or driftbot_location(venv) != (DRIFTBOT_SRC / "driftbot").resolve()
        ):
            log(f"{name}: installing driftbot {DRIFTBOT_SHA[:12]} ({DRIFTBOT_SRC}) into {venv}")
            pip = str(venv / "bin" / "pip")
            # driftbot itself from DRIFTBOT_SRC, then whatever dependencies that version added (pglast, ...)
            # (the venv's own setuptools builds it when it can: no isolated build env fetched each time)
            for isolation in (["--no-build-isolation"], []):
                done = subprocess.run(
                    [pip, "install", "-q", "--no-deps", "--force-reinstall", *isolation, "-e", str(DRIFTBOT_SRC)],
                    capture_output=True,
                )
                if done.returncode == 0:
                    break
            done.check_returncode()
            subprocess.run([pip, "install", "-q", *isolation, "-e", str(DRIFTBOT_SRC)], check=True, capture_output=True)
            installed.write_text(DRIFTBOT_SHA + "\n")
        where = driftbot_location(venv)
        if where != (DRIFTBOT_SRC / "driftbot").resolve():
            raise RuntimeError(f"{venv}: driftbot imports from {where}, not from {DRIFTBOT_SRC}")
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    log(f"{name}: creating {venv} and installing {want} + driftbot (editable)")
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    with open(CACHE / "logs" / f"install-{name}.log", "w") as out:
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *want.split(), "-e", str(DRIFTBOT_SRC)],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    marker.write_text(want + "\n")
    (venv / ".driftbot-sha").write_text(DRIFTBOT_SHA + "\n")
    return venv


def driftbot_location(venv: Path) -> Path | None:
    """The driftbot package the venv's python imports (the editable install's target)."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import driftbot, os; print(os.path.dirname(driftbot.__file__))"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 else None


def site_packages(venv: Path) -> Path:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def scratch_copy(name: str, spec: dict, site: Path, tag: str) -> Path:
    """A copy of the project's top-level packages, put first on PYTHONPATH for the run."""
    root = CACHE / "scratch" / name / tag
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for top in spec["copy"]:
        shutil.copytree(site / top, root / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def url_parts(url: str) -> dict[str, str]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {
        "url": url,
        "host": u.host or "",
        "port": str(u.port or 5432),
        "user": u.username or "",
        "password": u.password or "",
        "database": u.database or "",
    }


def run_env(spec: dict, url: str, pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    parts = url_parts(url)
    for key, value in spec.get("env", {}).items():
        for part, text in parts.items():
            value = value.replace("{" + part + "}", text)
        env[key] = value
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------- driftbot


def driftbot_check(name: str, spec: dict, venv: Path, root: Path, pythonpath: Path | None, tag: str) -> dict:
    project_dir = root / spec["alembic_dir"]
    out = CACHE / "reports" / name / f"{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [
        str(venv / "bin" / "driftbot"),
        "check",
        str(project_dir),
        "-c",
        str(project_dir / spec.get("ini", "alembic.ini")),
        *spec.get("flags", []),
        "--format",
        "json",
        "--output",
        str(out),
    ]
    cwd = {"site": root, "alembic_dir": project_dir}[spec.get("cwd", "alembic_dir")]
    env = run_env(spec, DUMMY_URL, pythonpath)
    # driftbot's own cache (initdb result, migrated snapshots) per project: emptied before the release
    # run, so that run is cold; the planted runs reuse it, as a developer's second run would
    cache = CACHE / "driftbot-cache" / name
    if tag == "release":
        shutil.rmtree(cache, ignore_errors=True)
    env["DRIFTBOT_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
    seconds = round(time.perf_counter() - started, 2)
    report = None
    if out.exists():
        try:
            report = json.loads(out.read_text())
        except ValueError:
            report = None
    result = {
        "command": " ".join(cmd).replace(str(CACHE), "$CACHE"),
        "cwd": str(cwd).replace(str(CACHE), "$CACHE"),
        "exit_code": rc,
        "seconds": seconds,
        "stderr_tail": tail(stderr),
        "stdout_tail": tail(stdout, 10),
    }
    if report is not None:
        sug = report.get("suggestion") or None
        result.update(
            {
                "status": report.get("status"),
                "error": report.get("error"),
                "timings": report.get("timings"),
                "migrations_applied": len((report.get("migrations") or {}).get("applied") or [])
                if isinstance(report.get("migrations"), dict)
                else None,
                "findings": [
                    {k: f.get(k) for k in ("kind", "object", "severity", "migrations", "models", "detail")}
                    for f in report.get("findings") or []
                ],
                "redirects": report.get("redirects"),
                "suggestion": None
                if sug is None
                else {
                    "verified": sug.get("verified"),
                    "checks": sug.get("checks"),
                    "remaining": sug.get("remaining"),
                    "hazards": sug.get("hazards"),
                    "content": sug.get("content"),
                },
            }
        )
    return result


# ---------------------------------------------------------------- plain alembic


def alembic_side_by_side(name: str, spec: dict, venv: Path, site: Path, admin_url) -> dict:
    import psycopg

    db = f"realworld_{name}_{os.getpid()}"
    admin = admin_url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')
    url = admin_url.set(database=db, drivername=spec.get("driver", "postgresql+psycopg"))
    url_s = url.render_as_string(hide_password=False)
    root = scratch_copy(name, spec, site, "alembic")
    project_dir = root / spec["alembic_dir"]
    ini = project_dir / spec.get("ini", "alembic.ini")
    if spec.get("alembic_set_url", True) and ini.exists():
        text = ini.read_text().splitlines()
        text = [
            f"sqlalchemy.url = {url_s.replace('%', '%%')}" if line.strip().startswith("sqlalchemy.url") else line
            for line in text
        ]
        if not any(line.startswith("sqlalchemy.url") for line in text):
            idx = next(i for i, line in enumerate(text) if line.strip() == "[alembic]")
            text.insert(idx + 1, f"sqlalchemy.url = {url_s.replace('%', '%%')}")
        ini.write_text("\n".join(text) + "\n")
    env = run_env(spec, url_s, root)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    cwd = {"site": root, "alembic_dir": project_dir}[spec.get("cwd", "alembic_dir")]
    commands = spec.get("alembic_commands", ["alembic -c {ini} upgrade head", "alembic -c {ini} check"])
    steps = []
    for template in commands:
        cmd = template.format(ini=ini, dir=project_dir, site=root, **url_parts(url_s))
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
            rc, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, output = "timeout", str(exc.stderr or "")
        steps.append(
            {
                "command": template,
                "exit_code": rc,
                "seconds": round(time.perf_counter() - started, 2),
                "output_tail": tail(output.replace(url.password or "\0", "***"), 12),
            }
        )
        if rc != 0 and "upgrade" in template:
            break
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return {"steps": steps, "seconds": round(sum(s["seconds"] for s in steps), 2)}


# ---------------------------------------------------------------- planted changes


def plant(root: Path, change: dict) -> str | None:
    path = root / change["file"]
    text = path.read_text()
    old, new = change["replace"]
    if text.count(old) != 1:
        return f"anchor found {text.count(old)} times in {change['file']}: {old!r}"
    path.write_text(text.replace(old, new))
    return None


def finding_key(f: dict) -> tuple[str, str]:
    return (f["kind"], f["object"])


def planted_run(name: str, spec: dict, venv: Path, site: Path, release: dict) -> list[dict]:
    base = {finding_key(f) for f in release.get("findings") or []}
    results = []
    for i, change in enumerate(spec.get("planted", []), 1):
        root = scratch_copy(name, spec, site, f"planted-{i}")
        problem = plant(root, change)
        entry = {"name": change["name"], "file": change["file"], "expect": change["expect"]}
        if problem:
            entry.update({"error": problem, "found": False, "verified": None})
            results.append(entry)
            continue
        log(f"{name}: planted {i}: {change['name']}")
        res = driftbot_check(name, spec, venv, root, root, f"planted-{i}")
        new = [f for f in res.get("findings") or [] if finding_key(f) not in base]
        hits = [f for f in new if any(fnmatch.fnmatch(f["object"].lower(), pat.lower()) for pat in change["expect"])]
        sug = res.get("suggestion") or {}
        failed = [c for c in (sug.get("checks") or []) if not c.get("passed")]
        entry.update(
            {
                "exit_code": res["exit_code"],
                "seconds": res["seconds"],
                "found": bool(hits),
                "new_findings": [f"{f['kind']} {f['object']}" for f in new],
                "verified": sug.get("verified"),
                "failed_checks": failed,
                "remaining": sug.get("remaining"),
                "error": res.get("error"),
                "stderr_tail": res["stderr_tail"] if not hits else "",
                "suggestion": sug.get("content") if not sug.get("verified") else None,
            }
        )
        log(f"{name}: planted {i}: exit {res['exit_code']} found={entry['found']} verified={entry['verified']}")
        results.append(entry)
        shutil.rmtree(root, ignore_errors=True)
    return results


# ---------------------------------------------------------------- one project


def run_project(name: str, spec: dict, admin_url) -> dict:
    started = time.time()
    venv = ensure_venv(name, spec)
    site = site_packages(venv)
    version = subprocess.run(
        [str(venv / "bin" / "pip"), "show", spec["package"].split("==")[0].split("[")[0]],
        capture_output=True,
        text=True,
    ).stdout
    version = next((line.split(":", 1)[1].strip() for line in version.splitlines() if line.startswith("Version:")), "?")
    sa = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sqlalchemy, alembic; print(sqlalchemy.__version__, alembic.__version__)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    log(f"{name} {version}: driftbot check on the release")
    release = driftbot_check(name, spec, venv, site, None, "release")
    log(
        f"{name}: release exit {release['exit_code']} in {release['seconds']}s, "
        f"{len(release.get('findings') or [])} findings"
    )
    log(f"{name}: plain alembic")
    alembic = alembic_side_by_side(name, spec, venv, site, admin_url)
    log(f"{name}: alembic {[s['exit_code'] for s in alembic['steps']]} in {alembic['seconds']}s")
    if release["exit_code"] in (0, 1):
        planted = planted_run(name, spec, venv, site, release)
    else:  # the release could not be checked: every planted change would fail the same way
        planted = [
            {
                "name": c["name"],
                "file": c["file"],
                "expect": c["expect"],
                "found": False,
                "verified": None,
                "error": f"not run: the release itself exits {release['exit_code']}",
            }
            for c in spec.get("planted", [])
        ]
    shutil.rmtree(CACHE / "scratch" / name, ignore_errors=True)
    return {
        "name": name,
        "package": spec["package"],
        "version": version,
        "sqlalchemy": sa[0] if sa else None,
        "alembic": sa[1] if len(sa) > 1 else None,
        "flags": spec.get("flags", []),
        "env": spec.get("env", {}),
        "alembic_dir": spec["alembic_dir"],
        "release": release,
        "alembic_run": alembic,
        "planted": planted,
        "driftbot_commit": DRIFTBOT_SHA,
        "ran_at": time.strftime("%Y-%m-%d %H:%M"),
        "total_seconds": round(time.time() - started, 1),
    }


# ---------------------------------------------------------------- RESULTS.md


def judge(judgements: dict, name: str, finding: dict) -> tuple[str, str]:
    for j in judgements.get(name, {}).get("finding", []):
        if fnmatch.fnmatch(finding["kind"], j.get("kind", "*")) and fnmatch.fnmatch(finding["object"], j["object"]):
            return j["verdict"], j["reason"]
    return "not judged", ""


def md_escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(projects: dict[str, dict]) -> str:
    judgements = load_judgements()
    data = {}
    for name in projects:
        path = RESULTS / f"{name}.json"
        if path.exists():
            data[name] = json.loads(path.read_text())
    lines = [
        "# driftbot on real projects: results",
        "",
        "Written by `python realworld/run.py` (see README.md here). Numbers are real runs on this machine "
        "(2 shared cores, PostgreSQL 15 local provider); verdicts on findings are a person's, from reading the "
        "release's migrations and models (`judgements.toml`).",
        "",
    ]
    lines += [
        "## Summary",
        "",
        "| project | version | ran without wrappers? | exit | release findings (true / false / other) "
        "| release suggestion verified? | driftbot s | alembic upgrade+check s | planted found | planted verified |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in data.items():
        rel = r["release"]
        fs = rel.get("findings") or []
        verdicts = [judge(judgements, name, f)[0] for f in fs]
        true_n = sum(v == "true drift" for v in verdicts)
        false_n = sum(v == "false alarm" for v in verdicts)
        sug = rel.get("suggestion")
        ver = (
            "n/a (no drift)"
            if rel["exit_code"] == 0
            else ("no suggestion" if not sug else ("yes" if sug["verified"] else "no"))
        )
        planted = r["planted"]
        found = sum(1 for p in planted if p.get("found"))
        verified = sum(1 for p in planted if p.get("verified"))
        wrappers = judgements.get(name, {}).get("wrappers", "yes" if rel["exit_code"] in (0, 1) else "no")
        steps = r["alembic_run"]["steps"]
        al = f"{r['alembic_run']['seconds']} ({'/'.join(str(s['exit_code']) for s in steps)})"
        lines.append(
            f"| {name} | {r['version']} | {md_escape(wrappers)} | {rel['exit_code']} | {len(fs)} "
            f"({true_n} / {false_n} / {len(fs) - true_n - false_n}) | {ver} | {rel['seconds']} | {al} "
            f"| {f'{found} of {len(planted)}' if planted else 'n/a'} | {f'{verified} of {len(planted)}' if planted else 'n/a'} |"
        )
    lines += [
        "",
        "*alembic upgrade+check s*: wall time of the project's plain commands on a fresh database of an "
        "already running server, with their exit codes (upgrade/check; `alembic check` exits 255 when it "
        "sees drift). *driftbot s*: wall time of the whole `driftbot check` process on the release, with an "
        "empty driftbot cache (initdb, server start, both scratch databases, the diff, the suggestion and "
        "its verification); the planted runs after it reuse that cache (migrated snapshot), as a second "
        "run on a developer's machine would, and their times are in the per-project tables.",
        "",
    ]
    if judgements.get("changes"):
        lines += ["## Since the previous run", "", judgements["changes"]["text"].strip(), ""]
    for name, r in data.items():
        rel = r["release"]
        j = judgements.get(name, {})
        lines += [
            f"## {name} {r['version']}",
            "",
            f"- driftbot commit `{str(r.get('driftbot_commit'))[:12]}`; package: `{r['package']}` (SQLAlchemy {r['sqlalchemy']}, alembic {r['alembic']}); "
            f"alembic.ini in `site-packages/{r['alembic_dir']}`",
            f"- command: `{rel['command']}` (cwd `{rel['cwd']}`)",
        ]
        if r.get("env"):
            lines.append(f"- environment: {', '.join(f'`{k}={v}`' for k, v in r['env'].items())}")
        lines.append(
            f"- exit {rel['exit_code']} in {rel['seconds']} s"
            + (f"; {rel['migrations_applied']} revisions applied" if rel.get("migrations_applied") else "")
        )
        if rel.get("timings"):
            lines.append(
                "- driftbot stages (s): "
                + ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in rel["timings"].items()
                )
            )
        for step in r["alembic_run"]["steps"]:
            lines.append(f"- plain `{step['command']}`: exit {step['exit_code']} in {step['seconds']} s")
        if j.get("notes"):
            lines += ["", j["notes"].strip()]
        if rel.get("error"):
            lines += ["", "driftbot's error:", "```", str(rel["error"])[:3000], "```"]
        elif rel["exit_code"] not in (0, 1):
            lines += ["", "driftbot's stderr (last lines):", "```", rel["stderr_tail"][:3000], "```"]
        fs = rel.get("findings") or []
        if fs:
            lines += ["", "| finding | object | migrations | models | verdict | reason |", "|---|---|---|---|---|---|"]
            for f in fs:
                verdict, reason = judge(j and judgements, name, f)
                lines.append(
                    f"| {f['kind']} ({f['severity']}) | `{md_escape(f['object'])}` | "
                    f"{md_escape(f['migrations'] or '')[:120]} | {md_escape(f['models'] or '')[:120]} | "
                    f"{verdict} | {md_escape(reason)} |"
                )
        sug = rel.get("suggestion")
        if sug:
            checks = ", ".join(f"{c['name']} {'ok' if c['passed'] else 'FAILED'}" for c in sug.get("checks") or [])
            lines += ["", f"Release suggestion: verified = {sug['verified']} ({checks})"]
            for c in sug.get("checks") or []:
                if not c["passed"] and c.get("detail"):
                    lines += ["```", str(c["detail"])[:1500], "```"]
        if r["planted"]:
            lines += [
                "",
                "| planted change | found | verified | s | new findings | failed checks / error |",
                "|---|---|---|---|---|---|",
            ]
            for p in r["planted"]:
                failed = "; ".join(
                    f"{c['name']}: {str(c.get('detail') or '')[:200]}" for c in p.get("failed_checks") or []
                )
                if p.get("error"):
                    failed = (failed + " " + str(p["error"])[:300]).strip()
                lines.append(
                    f"| {md_escape(p['name'])} | {'yes' if p.get('found') else 'no'} | "
                    f"{p.get('verified')} | {p.get('seconds', '')} | {md_escape(', '.join(p.get('new_findings') or []))[:300]} | "
                    f"{md_escape(failed)[:500]} |"
                )
        lines.append("")
    if judgements.get("failures"):
        lines += ["## driftbot failures by pattern", "", judgements["failures"]["text"].strip(), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    projects = load_projects()
    if not argv:
        print(__doc__)
        return 2
    if argv == ["report"]:
        (HERE / "RESULTS.md").write_text(render(projects))
        return 0
    names = list(projects) if argv == ["all"] else argv
    unknown = [n for n in names if n not in projects]
    if unknown:
        print(f"unknown project(s): {', '.join(unknown)}; known: {', '.join(projects)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    from driftbot.postgres.local import local_server

    with local_server() as server:
        for name in names:
            try:
                result = run_project(name, projects[name], server.admin_url)
            except Exception as exc:  # one project's trouble (an install, say) does not stop the others
                log(f"{name}: FAILED {exc!r}")
                result = {"name": name, "package": projects[name]["package"], "failed": repr(exc)}
                (RESULTS / f"{name}.error.json").write_text(json.dumps(result, indent=1) + "\n")
                continue
            (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
            (HERE / "RESULTS.md").write_text(render(projects))
    (HERE / "RESULTS.md").write_text(render(projects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
