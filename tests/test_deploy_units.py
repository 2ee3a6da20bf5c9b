"""deploy/: the systemd units pass `systemd-analyze verify` (when systemd is installed: Debian's
`systemd` package; .ci/run installs it) and carry the hardening deploy/README.md promises."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SERVICES = ("imagear-serve.service", "imagear-web.service", "imagear-batch.service")
UNITS = (*SERVICES, "imagear-batch.timer")
HARDENING = {
    "NoNewPrivileges": "true",
    "PrivateTmp": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "CapabilityBoundingSet": "",
}


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def service_lines(name: str) -> list[str]:
    """The [Service] section's ``Key=value`` lines (repeated keys such as Environment kept)."""
    section, lines = "", []
    for raw in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith("#"):
            lines.append(line)
    return lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_units_pass_systemd_analyze_verify() -> None:
    paths = [str(DEPLOY / name) for name in UNITS]
    done = subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60
    )
    said = [ln for ln in (done.stdout + done.stderr).splitlines() if "imagear-" in ln]
    assert done.returncode == 0, done.stdout + done.stderr
    assert not said, "\n".join(said)  # an unknown key is only a warning: refused here too


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened(name: str) -> None:
    lines = service_lines(name)
    keys = dict(line.split("=", 1) for line in lines)
    for key, value in HARDENING.items():
        assert keys.get(key) == value, f"{name}: {key}={keys.get(key)!r}"
    assert keys.get("User") == "imagear" or keys.get("DynamicUser") == "true", name
    assert "/srv/imagear" in keys.get("ReadWritePaths", ""), name
    assert "Environment=MALLOC_ARENA_MAX=2" in lines, name
    assert any(ln.startswith("EnvironmentFile=") for ln in lines), name
    # tokens come from the EnvironmentFile, never from the unit itself
    assert not any("TOKEN=" in ln for ln in lines if ln.startswith("Environment=")), name


def test_batch_runs_quiet_from_its_timer() -> None:
    keys = dict(line.split("=", 1) for line in service_lines("imagear-batch.service"))
    assert keys["Type"] == "oneshot"
    assert " batch " in keys["ExecStart"] and "--quiet" in keys["ExecStart"].split()
    assert "130" in keys["SuccessExitStatus"].split()  # a stop gives the records back: clean
    timer = unit("imagear-batch.timer")
    assert timer.get("Timer", "OnCalendar") and timer.get("Install", "WantedBy") == "timers.target"
    assert "imagear-web.service" in (DEPLOY / "README.md").read_text(encoding="utf-8")


def test_readme_prometheus_config_and_rules_parse() -> None:
    """The scrape config and the rule file in deploy/README.md are valid YAML of the right
    shape: jobs for serve and web at /metrics with a bearer token, the two alerts."""
    yaml = pytest.importorskip("yaml")
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in readme.split("```yaml")[1:]]
    docs = [yaml.safe_load(b.split("```", 1)[0]) for b in blocks]
    jobs = {j["job_name"]: j for d in docs for j in d.get("scrape_configs", [])}
    for name in ("imagear-serve", "imagear-web"):
        assert jobs[name]["metrics_path"] == "/metrics"
        assert jobs[name]["authorization"]["type"] == "Bearer"
    rules = {r["alert"]: r for d in docs for g in d.get("groups", []) for r in g["rules"]}
    assert "up{" in rules["ImagearServerDown"]["expr"] and rules["ImagearServerDown"]["for"] == "5m"
    assert (
        "rate(imagear_quality_refusals_total[15m])" in rules["ImagearQualityRefusalsRising"]["expr"]
    )
    assert "--metrics-file" in readme and "textfile" in readme
