"""A scheduled job under a real svscan, seen by svweb (index, service page,
API, /metrics) and svctl: shown as scheduled with its next firing, skipped
count and last run, and its knob values as text in the JSON."""

import os
import shutil
import subprocess

import helpers
from helpers import wait_for
from svwebkit import Scan, Web, scrape, service

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_scheduled_job_is_shown_as_scheduled(procs, tmp_path):
    scan = Scan(procs, tmp_path)
    job = service(scan.dir, "job", "exec 2>&1\necho job ran\nexit 3\n")
    (job / "schedule").write_text("* * * * *\n")
    (job / "fail-limit").write_text("4 18\n")
    scan.wait_supervised("job")
    web = Web(procs, tmp_path, scan.dir, "--ttl", "0")
    try:
        js = wait_for(lambda: (lambda j: j["next_fire"] and j)(web.json("/api/services/job")),
                      20, what="the job's next firing in the API")
        assert js["scheduled"] is True and js["knobs"] == {"schedule": "* * * * *", "fail-limit": "4 18"}
        # a firing is 'o', as svc -o sends it
        helpers.run([helpers.prog("svc"), "-o", str(job)])
        js = wait_for(lambda: (lambda j: j["exit"] and j["state"] == "down" and j)(
            web.json("/api/services/job")), 20, what="the run's exit")
        assert js["want"] == "once" and js["exit"]["code"] == 3

        status, _, index = web.get("/")
        assert status == 200 and b"scheduled, next in " in index, index
        status, _, page = web.get("/services/job")
        assert status == 200
        assert b"Scheduled: * * * * *." in page and b"Next firing " in page, page
        assert b"0 firings skipped" in page and b"Last run: exit 3, " in page, page

        body = scrape(web)
        text = body.decode()
        assert 'svtools_service_scheduled{service="job"} 1.0' in text
        assert 'svtools_service_scheduled{service="job/log"} 0.0' in text
        fire = [l for l in text.splitlines()
                if l.startswith('svtools_service_schedule_next_fire_timestamp_seconds{service="job"} ')]
        assert len(fire) == 1 and float(fire[0].split()[1]) % 60 == 0, fire
        assert 'svtools_service_schedule_skipped_total{service="job"} 0.0' in text
        assert 'schedule_next_fire_timestamp_seconds{service="job/log"}' not in text
        if os.access(PROMTOOL, os.X_OK):
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                               timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr

        cp = helpers.run([helpers.prog("svctl"), "-d", str(scan.dir), "status", "job"])
        assert cp.returncode == 0, cp.stdout
        assert cp.stdout.decode().splitlines()[1].split(None, 1)[1].startswith("scheduled, next in ")
    finally:
        web.close()
        scan.close()
