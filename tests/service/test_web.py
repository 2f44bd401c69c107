"""The web view in a real browser (Debian's headless chromium through
chromedriver): sign in with a token, watch a job's progress live on its
page until it succeeds, check the job list and the report show the job's
key numbers, and save screenshots under the build directory."""

import os

from conftest import BUILD, FAST, Cli, Worker, wait_for
from webdriver import Browser

SHOTS = os.path.join(BUILD, "web-screenshots")


def test_job_list_live_progress_and_report_in_a_browser(server_factory,
                                                        assets, workdir):
    tokens = os.path.join(workdir, "tokens")
    with open(tokens, "w") as f:
        f.write("web-token-0123456789abcdef alice\n"
                "worker-token-0123456789abcdef @workers worker\n")
    # No worker yet: the job waits QUEUED until its page is open.
    server = server_factory(local_workers=0, token_file=tokens)
    cli = Cli(server, token="web-token-0123456789abcdef")
    model = cli.json("upload", "model", assets["mlp"], "--name", "tiny-mlp")
    data = cli.json("upload", "dataset", assets["data"])
    job = cli.json("submit", "--model", model["name"], "--dataset",
                   data["name"], *FAST)
    job_id = job["name"].split("/")[1]
    base = f"http://127.0.0.1:{server.metrics_port}"

    worker = None
    browser = Browser(os.path.join(workdir, "chromedriver.log"))
    try:
        # No cookie yet: the job list sends us to the sign-in form.
        browser.get(f"{base}/jobs")
        assert browser.url.endswith("/login")
        browser.type("#token", "wrong-token-0123456789abcdef")
        browser.click("button[type=submit]")
        assert "unknown token" in browser.wait_text(".error")
        browser.type("#token", "web-token-0123456789abcdef")
        browser.click("button[type=submit]")
        assert job_id in browser.wait_text("#jobs")
        assert browser.url.endswith("/jobs")

        # The job's page follows it live (its script polls events.json)
        # and reloads into the result once it has ended.
        browser.get(f"{base}/jobs/{job_id}")
        assert browser.text("#state") == "QUEUED"
        first = len(browser.find_all("#events tr"))
        worker = Worker(workdir, server, "w1",
                        token="worker-token-0123456789abcdef")
        wait_for(lambda: len(browser.find_all("#events tr")) > first + 2,
                 300, "new events to appear on the job page")
        wait_for(lambda: browser.find_all("#downloads"), 600,
                 "the page to show the finished job")
        assert browser.text("#state") == "SUCCEEDED"
        final = cli.json("status", job["name"])
        ratio = f"{final['result']['ratio']:.1f}\u00d7"
        assert browser.text("#ratio") == ratio
        links = browser.text("#downloads")
        for name in ("model.cdz", "model.pt", "report.json", "report.html"):
            assert name in links
        browser.screenshot(os.path.join(SHOTS, "job.png"))

        # The report, inside the page's frame: the key numbers are there.
        browser.frame("iframe")
        report = browser.text("body")
        assert ratio in report
        for heading in ("Compression after each step", "Bits per weight",
                        "Weight distributions", "Stages"):
            assert heading in report, heading
        accuracy = final["result"]["accuracy_after"]
        assert f"{100 * accuracy:.2f}%" in report
        browser.frame(None)

        browser.get(f"{base}/jobs/{job_id}/files/report.html")
        assert ratio in browser.text("body")
        browser.screenshot(os.path.join(SHOTS, "report.png"))

        browser.get(f"{base}/jobs")
        row = browser.text("#jobs")
        assert job_id in row and "SUCCEEDED" in row and ratio in row
        browser.screenshot(os.path.join(SHOTS, "jobs.png"))

        # Signing out drops the cookie.
        browser.get(f"{base}/logout")
        browser.get(f"{base}/jobs")
        assert browser.url.endswith("/login")
    finally:
        browser.stop()
        if worker is not None:
            worker.stop()
    for shot in ("job.png", "report.png", "jobs.png"):
        assert os.path.getsize(os.path.join(SHOTS, shot)) > 10000, shot
