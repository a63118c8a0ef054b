"""svweb in a real browser: Debian's chromium, headless, driven by Selenium
through Debian's chromedriver (selenium-manager never runs: both paths are
given and SE_OFFLINE is set).  A real svscan runs one service with a logger;
each step leaves a screenshot in the test's tmp dir."""

import os
import re
import subprocess

import pytest

from helpers import prog, wait_for, write_script
from svwebkit import Scan, Web, service, wait_state, write_auth

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("Debian's chromium and chromium-driver are not installed"
                " (test.sh installs them when run as root)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1000,640", "--user-data-dir=%s" % (tmp_path / "chromium")):
        opts.add_argument(arg)
    drv = webdriver.Chrome(options=opts, service=Service(
        executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")))
    try:
        drv.set_page_load_timeout(30)
        yield drv
    finally:
        drv.quit()


def shot(drv, tmp_path, name):
    path = tmp_path / ("%s.png" % name)
    drv.save_screenshot(str(path))
    assert path.stat().st_size > 1000
    return path


def state_of(drv, name, kind="service"):
    """The state badge of NAME's row (or its logger's), as the page shows it
    now (read in one script: the rows are replaced every second)."""
    return drv.execute_script(
        "for (const r of document.querySelectorAll('tr.' + arguments[1]))"
        "  if (r.dataset.name === arguments[0]) return r.querySelector('.badge').textContent;"
        "return null;", name, kind)


def log_text(drv):
    return drv.execute_script("const l = document.getElementById('log');"
                              " return l ? l.innerText : '';")


def test_status_stop_start_and_log_tail(procs, tmp_path, browser):
    scan = Scan(procs, tmp_path)
    service(scan.dir, "ticker")
    scan.wait_supervised("ticker")
    web = Web(procs, tmp_path, scan.dir)
    base = "http://127.0.0.1:%d" % web.port
    try:
        wait_state(web, "ticker", "up")
        browser.get(base + "/")
        wait_for(lambda: state_of(browser, "ticker") == "up", 20, what="ticker shown up")
        assert state_of(browser, "ticker", "logger") == "up"
        shot(browser, tmp_path, "1-status-page")

        browser.find_element(By.LINK_TEXT, "ticker").click()
        wait_for(lambda: "tick" in log_text(browser), 20, what="log lines in the tail")
        first_pid = web.json("/api/services/ticker")["pid"]
        # A mark that a reload would wipe out.
        browser.execute_script("window.svwebMark = 'same page';")
        shot(browser, tmp_path, "2-service-page")

        browser.find_element(By.ID, "btn-stop").click()
        wait_for(lambda: (state_of(browser, "ticker") or "").startswith("down"), 20,
                 what="ticker shown down")
        assert browser.execute_script("return window.svwebMark") == "same page"
        assert web.json("/api/services/ticker")["state"] == "down"
        shot(browser, tmp_path, "3-stopped")

        browser.find_element(By.ID, "btn-start").click()
        wait_for(lambda: state_of(browser, "ticker") == "up", 20, what="ticker shown up again")
        pid = web.json("/api/services/ticker")["pid"]
        assert pid and pid != first_pid
        wait_for(lambda: "started %d" % pid in log_text(browser), 20,
                 what="the new run's first line in the tail")
        assert browser.execute_script("return window.svwebMark") == "same page"
        # Local times, not TAI64N labels.
        line = [x for x in log_text(browser).splitlines() if "started %d" % pid in x][0]
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} started", line), line
        shot(browser, tmp_path, "4-started-new-log-line")
        assert "stop ticker by local" in web.log() and "start ticker by local" in web.log()
    finally:
        web.close()
        scan.close()


def test_page_reads_without_javascript(procs, tmp_path, browser):
    """The status table is plain HTML: with scripts off it is all there.
    A one-shot that exited 0 (./finish exits 125) reads "exited", in
    svctl's words, with the time since it went down as its uptime."""
    scan = Scan(procs, tmp_path)
    service(scan.dir, "quiet")
    done = service(scan.dir, "a-done", "exit 0\n", log=False)
    write_script(done / "finish", "exit 125\n")
    scan.wait_supervised("quiet")
    web = Web(procs, tmp_path, scan.dir)
    try:
        wait_state(web, "quiet", "up")
        wait_state(web, "a-done", "failed")
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        browser.get("http://127.0.0.1:%d/" % web.port)
        first, row = browser.find_elements(By.CSS_SELECTOR, "tr.service")
        assert row.find_element(By.CSS_SELECTOR, "a").text == "quiet"
        assert row.find_element(By.CSS_SELECTOR, ".badge").text == "up"
        assert re.fullmatch(r"exited \(last exit 0 after \d\.\ds; kept down by \./finish\)",
                            first.find_element(By.CSS_SELECTOR, ".badge").text)
        cells = {c.get_attribute("data-label"): c.text for c in first.find_elements(By.TAG_NAME, "td")}
        assert re.fullmatch(r"\d+s", cells["uptime"]) and re.fullmatch(r"exit 0, \d+s ago", cells["last exit"]), cells
        browser.set_window_size(390, 800)  # a phone
        shot(browser, tmp_path, "5-phone-no-js")
        browser.find_element(By.LINK_TEXT, "quiet").click()
        assert browser.find_element(By.ID, "btn-stop").text == "stop"
        assert "quiet" in browser.find_element(By.TAG_NAME, "h1").text
    finally:
        web.close()
        scan.close()


def test_login_in_the_browser(procs, tmp_path, browser):
    """With an auth file: the page sends the browser to /login; a wrong
    password is refused, the right one shows the services."""
    scan = Scan(procs, tmp_path)
    service(scan.dir, "guarded")
    scan.wait_supervised("guarded")
    hashed = subprocess.run([prog("svweb"), "--hash-password", "ops"], input=b"s3cret\n",
                            capture_output=True, check=True).stdout.decode()
    auth = write_auth(tmp_path / "auth", hashed)
    web = Web(procs, tmp_path, scan.dir, "--auth", str(auth))
    try:
        browser.get("http://127.0.0.1:%d/" % web.port)
        wait_for(lambda: browser.current_url.endswith("/login"), 20, what="sent to /login")
        for password, expect in (("wrong", "Wrong user or password"), ("s3cret", "Services")):
            browser.find_element(By.ID, "user").send_keys("ops")
            browser.find_element(By.ID, "password").send_keys(password)
            browser.find_element(By.CSS_SELECTOR, "form.login button").click()
            wait_for(lambda: expect in browser.page_source, 20, what=expect)
        shot(browser, tmp_path, "6-logged-in")
        wait_for(lambda: state_of(browser, "guarded") == "up", 20, what="guarded shown up")
        assert "log out ops" in browser.page_source
    finally:
        web.close()
        scan.close()
