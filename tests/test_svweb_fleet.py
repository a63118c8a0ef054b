"""The fleet side of svweb: the example Prometheus configuration and alert
rules pass promtool (syntax, and a rule unit test), and a real crash-looping
service under a real svscan shows up in /metrics as the alert expects."""

import os
import shutil
import subprocess

import pytest

from helpers import wait_for
from svwebkit import Scan, Web, scrape, service

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "service-examples", "svweb")

pytestmark = pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK),
                                reason="promtool missing (Debian package prometheus)")

RULE_TEST = """\
rule_files:
  - alerts.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'svtools_service_failed{service="db", instance="h1:9001", job="svtools"}'
        values: '0 0 1x10'
      - series: 'svtools_service_fail_limit_reached{service="db", instance="h1:9001", job="svtools"}'
        values: '0 0 1x10'
      # autorestart=false imported by svimport: ./finish exits 125, failed, want down
      - series: 'svtools_service_failed{service="oneshot", instance="h1:9001", job="svtools"}'
        values: '0 0 1x10'
      - series: 'svtools_service_fail_limit_reached{service="oneshot", instance="h1:9001", job="svtools"}'
        values: '0x12'
      - series: 'svtools_service_scheduled{service="flaky", instance="h1:9001", job="svtools"}'
        values: '0x14'
      - series: 'svtools_service_crash_loop{service="flaky", instance="h1:9001", job="svtools"}'
        values: '0x3 1x10'
      - series: 'svtools_service_starts_total{service="flaky", instance="h1:9001", job="svtools"}'
        values: '1+3x14'
      - series: 'svtools_service_crash_loop{service="calm", instance="h1:9001", job="svtools"}'
        values: '0x14'
      - series: 'svtools_service_starts_total{service="calm", instance="h1:9001", job="svtools"}'
        values: '1x14'
      # a job scheduled every minute: ten starts in ten minutes, each run fine
      - series: 'svtools_service_starts_total{service="cron", instance="h1:9001", job="svtools"}'
        values: '1+1x14'
      - series: 'svtools_service_crash_loop{service="cron", instance="h1:9001", job="svtools"}'
        values: '0x14'
      - series: 'svtools_service_scheduled{service="cron", instance="h1:9001", job="svtools"}'
        values: '1x14'
    alert_rule_test:
      - eval_time: 5m
        alertname: ServiceFailed
        exp_alerts:
          - exp_labels: {severity: page, service: db, instance: "h1:9001", job: svtools}
            exp_annotations:
              summary: "db on h1:9001 has failed"
              description: "supervise gave up restarting it (fail-limit); svctl start db clears it."
      - eval_time: 12m
        alertname: ServiceCrashLooping
        exp_alerts:
          - exp_labels: {severity: warn, service: flaky, instance: "h1:9001", job: svtools}
            exp_annotations:
              summary: "flaky on h1:9001 keeps restarting"
              description: "More than 5 starts in 10 minutes, or dying within seconds of each start."
      - eval_time: 1m
        alertname: ServiceFailed
        exp_alerts: []
"""


def promtool(*args, cwd=None):
    r = subprocess.run([PROMTOOL] + list(args), capture_output=True, timeout=60, cwd=cwd)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return r.stdout.decode()


def test_example_alerts_and_scrape_config(tmp_path):
    shutil.copy(os.path.join(EXAMPLE, "alerts.yml"), tmp_path)
    assert "SUCCESS: 4 rules found" in promtool("check", "rules", str(tmp_path / "alerts.yml"))
    token = tmp_path / "svweb.token"
    token.write_text("t" * 40 + "\n")
    with open(os.path.join(EXAMPLE, "prometheus.yml")) as f:
        config = f.read().replace("/etc/prometheus/svweb.token", str(token))
    (tmp_path / "prometheus.yml").write_text(config)
    promtool("check", "config", str(tmp_path / "prometheus.yml"))
    (tmp_path / "test.yml").write_text(RULE_TEST)
    assert "SUCCESS" in promtool("test", "rules", "test.yml", cwd=str(tmp_path))


def sample(body, family, service):
    """The value of FAMILY{service=SERVICE} in a scrape, or None."""
    prefix = ('%s{service="%s"} ' % (family, service)).encode()
    for line in body.split(b"\n"):
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


@pytest.fixture
def flaky_world(procs, tmp_path):
    scan = Scan(procs, tmp_path)
    service(scan.dir, "flaky", "exec 2>&1\necho dying\nexit 3\n")
    service(scan.dir, "steady")
    scan.wait_supervised("flaky", "steady")
    web = Web(procs, tmp_path, scan.dir, "--ttl", "0.2")
    yield web
    web.close()
    scan.close()


def test_restarts_reach_metrics(flaky_world):
    """What ServiceCrashLooping's increase() sees: flaky's starts climb, its
    last exit is code 3, steady's stay put; and the scrape passes promtool."""
    web = flaky_world
    wait_for(lambda: (sample(scrape(web), "svtools_service_starts_total", "flaky") or 0) >= 2,
             30, what="flaky restarted")
    first = scrape(web)
    wait_for(lambda: sample(scrape(web), "svtools_service_starts_total", "flaky")
             >= sample(first, "svtools_service_starts_total", "flaky") + 2, 30,
             what="two more starts of flaky")
    body = scrape(web)
    assert sample(body, "svtools_service_last_exit_code", "flaky") == 3
    assert sample(body, "svtools_service_want_up", "flaky") == 1
    assert sample(body, "svtools_service_starts_total", "steady") == 1
    assert sample(body, "svtools_service_up", "steady") == 1
    assert sample(body, "svtools_service_crash_loop", "steady") == 0
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_crash_loop_flag_reaches_metrics(flaky_world):
    web = flaky_world
    wait_for(lambda: sample(scrape(web), "svtools_service_crash_loop", "flaky") == 1,
             20, what="flaky seen crash-looping in /metrics")
    assert sample(scrape(web), "svtools_service_crash_loop", "steady") == 0


def _doc(*parts):
    with open(os.path.join(os.path.dirname(__file__), "..", *parts)) as f:
        return f.read()


def test_man_auth_examples_are_what_svweb_reads():
    from svtools import _svweb_auth
    man = _doc("man", "svweb.8")
    part = man[man.index(".BI \\-\\-auth"):man.index(".BI \\-\\-cert")]
    assert '.BI "token " secret' in part and '.BI "user " "name hash"' in part
    example = part[part.index(".nf\n") + 4:part.index(".fi\n")]
    auth = _svweb_auth.parse(example)
    assert len(auth["tokens"]) == 1 and list(auth["users"]) == ["alice"]
    assert _svweb_auth.check_password(auth, "alice", "pw")


def test_readme_token_file_recipe_feeds_prometheus(procs, tmp_path):
    """The README's command turns svweb's auth file into what Prometheus'
    credentials_file needs (the secret alone), and svweb takes it."""
    readme = _doc("README.md")
    fleet = readme[readme.index("## Running a fleet"):readme.index("## Benchmarks")]
    recipe = [line.strip() for line in fleet.splitlines() if line.strip().startswith("awk ")]
    assert len(recipe) == 1, recipe
    secret = "s" * 20 + "3cr3t" * 4
    auth = tmp_path / "auth"
    auth.write_text("# svweb\ntoken %s\n" % secret)
    auth.chmod(0o600)
    cmd = recipe[0].replace("/etc/sv/svweb/auth", str(auth)).replace(
        "/etc/prometheus/svweb.token", str(tmp_path / "svweb.token"))
    subprocess.run(["sh", "-c", cmd], check=True, timeout=20)
    # Prometheus sends the file's content, blanks at both ends trimmed
    token = (tmp_path / "svweb.token").read_text().strip()
    assert token == secret
    scandir = tmp_path / "scan"
    scandir.mkdir()
    web = Web(procs, tmp_path, scandir, "--auth", str(auth))
    try:
        assert web.get("/metrics", headers={"Authorization": "Bearer " + token})[0] == 200
        assert web.get("/metrics", headers={"Authorization": "Bearer token " + token})[0] == 401
    finally:
        web.close()
