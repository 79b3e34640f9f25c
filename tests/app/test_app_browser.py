"""`portfolio app` driven in headless Chromium (Debian's chromium + chromium-driver, Selenium).

Each tab's main action is performed and its visible result checked; the speech tab goes through
the microphone path, Chromium's fake capture device playing a WAV this test synthesizes.
Screenshots go to the test's output folder (printed; kept by pytest under its basetemp).
`.ci/run` installs the browser where it is missing; this test runs in CI's first pass only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.once,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]


@pytest.fixture(scope="module")
def server(tiny_root, tmp_path_factory):
    """`python -m common.app` on the tiny checkpoints; yields (url, cold start seconds)."""
    from benchmarks.app import served

    env = {"MAL2_RUNS": str(tiny_root / "runs"), "MAL2_DATA": str(tiny_root / "data"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    log = tmp_path_factory.mktemp("server") / "app.log"
    with served(log, env, wait_s=60) as (url, seconds):
        yield url, seconds


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from speech.demo import speak

    folder = tmp_path_factory.mktemp("browser")
    wav = speak(["yes"], "en-us+m3", folder / "yes.wav")  # what the fake microphone plays
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={folder / 'profile'}", "--window-size=1400,1300",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_window_size(1400, 1300)
    shots = Path(os.environ.get("MAL2_SCREENSHOTS", folder / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    url, _ = server
    loaded = time.perf_counter()
    driver.get(url)
    wait_for(driver, lambda d: d.find_elements("css selector", "button[role=tab]"), 30)
    driver.page_seconds = time.perf_counter() - loaded
    driver.shots = shots
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout: float = 30, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, what)


def open_tab(driver, title: str) -> None:
    tab = next(
        b for b in driver.find_elements("css selector", "button[role=tab]") if b.text == title
    )
    tab.click()
    wait_for(driver, lambda d: tab.get_attribute("aria-selected") == "true")


def text_of(driver, elem_id: str) -> str:
    return driver.find_element("id", elem_id).text


def text_of_css(driver, selector: str) -> str:
    found = driver.find_elements("css selector", selector)
    return found[0].text if found else ""


def image_loaded(driver, elem_id: str) -> bool:
    return driver.execute_script(
        "const i = document.querySelector(`#${arguments[0]} img`);"
        "return !!i && i.complete && i.naturalWidth > 50;",
        elem_id,
    )


def timed(driver, name: str, action, condition, timeout: float = 60) -> float:
    start = time.perf_counter()
    action()
    wait_for(driver, condition, timeout, f"{name}: no result within {timeout} s")
    took = time.perf_counter() - start
    driver.save_screenshot(str(driver.shots / f"{name}.png"))
    print(f"{name}: {took:.2f} s")
    return took


def audio_duration_shown(driver) -> str | None:
    """The length the audio player (wavesurfer) shows once it has loaded the WAV, e.g. '0:19'."""
    shown = text_of_css(driver, "#music-audio time#duration")
    return shown if re.fullmatch(r"\d+:\d\d", shown) and shown != "0:00" else None


def test_the_page_loads_offline_and_every_tab_does_its_main_action(server, browser):
    d = browser
    url, cold = server
    print(f"cold start to /config: {cold:.1f} s; page rendered in {d.page_seconds:.1f} s")
    tabs = [b.text for b in d.find_elements("css selector", "button[role=tab]")]
    assert tabs == ["Speech", "Handwriting", "Music", "Blackjack", "Exam"]

    # Speech, through the microphone: Chromium's fake capture device plays yes.wav
    words = ("yes", "no", "up", "left", "stop")  # the tiny model's labels
    wait_for(d, lambda d: d.find_elements("css selector", "#speech-audio select option"), 20)

    def record():
        d.find_element("css selector", "#speech-audio .record-button").click()
        stop = "#speech-audio .stop-button"
        wait_for(d, lambda d: d.find_element("css selector", stop).is_displayed(), 10)
        time.sleep(2.0)
        d.find_element("css selector", stop).click()

    def classified(d):
        top5 = text_of(d, "speech-top5")
        return any(w in top5 for w in words) and image_loaded(d, "speech-figure")

    timed(d, "speech_microphone", record, classified)
    status = text_of(d, "speech-status")
    assert re.search(rf"\b({'|'.join(words)})\b", status) and "s of audio" in status
    typed = d.find_element("css selector", "#speech-words textarea, #speech-words input")
    typed.clear()
    typed.send_keys("Left, stop.")  # two words, as an examiner types them (were refused)
    d.find_element("id", "speech-speak").click()

    def spoken(d):  # a new classification, of the synthesized words
        now = text_of(d, "speech-status")
        return now != status and "s of audio" in now

    wait_for(d, spoken, 30)

    open_tab(d, "Handwriting")

    def written(d):
        return "Written" in text_of(d, "hw-status") and all(
            image_loaded(d, i) for i in ("hw-image", "hw-animation")
        )

    timed(d, "handwriting", lambda: d.find_element("id", "hw-write").click(), written)
    text_box = d.find_element("css selector", "#hw-text textarea")
    text_box.clear()
    text_box.send_keys("naïve ☃")  # a character the model cannot write: a message, app stays up
    d.find_element("id", "hw-write").click()
    wait_for(d, lambda d: "cannot write" in text_of(d, "hw-status"), 20)
    d.save_screenshot(str(d.shots / "handwriting_unknown_character.png"))
    text_box.clear()
    text_box.send_keys("Dear Ada,\nhello")  # Enter starts a line (it submitted in one row)
    d.find_element("id", "hw-write").click()
    wait_for(d, lambda d: "Written: 2 line(s)" in text_of(d, "hw-status"), 30)

    open_tab(d, "Music")

    def composed(d):
        return "Composed" in text_of(d, "music-status") and image_loaded(d, "music-roll")

    timed(d, "music", lambda: d.find_element("id", "music-compose").click(), composed)
    shown = wait_for(d, audio_duration_shown, 20, "the audio player shows no duration")
    minutes, seconds = map(int, shown.split(":"))
    assert 60 * minutes + seconds >= 8 * 4 * 60 / 100 - 1, shown  # 8 bars of 4 beats at 100/min
    assert re.search(r"Audio rendered with (FluidSynth|sine waves)", text_of(d, "music-status"))
    d.save_screenshot(str(d.shots / "music_player_loaded.png"))
    d.find_element("css selector", "#music-melody textarea").send_keys("C D E C")  # the examiner's
    d.find_element("id", "music-compose").click()
    wait_for(d, lambda d: "after your melody" in text_of(d, "music-status"), 30)

    open_tab(d, "Blackjack")

    def dealt(d):
        return "Your cards" in text_of(d, "bj-status") and all(
            image_loaded(d, i) for i in ("bj-chart", "bj-table")
        )

    timed(d, "blackjack_deal", lambda: d.find_element("id", "bj-new").click(), dealt)
    assert "Q(stick)" in text_of(d, "bj-advice")

    def settled(d):
        return re.search(r"You (win|lose|draw)", text_of(d, "bj-status"))

    timed(d, "blackjack_stick", lambda: d.find_element("id", "bj-stick").click(), settled)
    d.find_element("css selector", "#bj-hand textarea").send_keys("A 7 vs 10")  # the examiner's
    d.find_element("id", "bj-new").click()
    wait_for(d, lambda d: "you have soft 18" in text_of(d, "bj-status"), 20)

    open_tab(d, "Exam")
    seed = d.find_element("css selector", "#tab-exam input[type=number]")
    seed.clear()
    seed.send_keys("3")
    from common.app import exam_draw

    title = {"speech": "Speech", "handwriting": "Handwriting", "music": "Music",
             "blackjack": "Blackjack"}[exam_draw(3)[-1]]  # fmt: skip

    def drawn(d):
        selected = d.find_element("css selector", "button[role=tab][aria-selected=true]")
        return "The draw (seed 3)" in text_of(d, "exam-status") and selected.text == title

    timed(d, "exam_draw", lambda: d.find_element("id", "exam-draw").click(), drawn)
    assert "| metric | value |" not in text_of(d, "exam-metrics")  # rendered as a table
    assert "model.py" in text_of(d, "exam-files")

    # offline: every request the page made went to the app itself (no CDN, no analytics)
    hosts = set()
    for entry in d.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request_url = message["params"]["request"]["url"]
            if request_url.startswith("http"):
                hosts.add(re.match(r"https?://([^/:]+)", request_url).group(1))
    assert hosts == {"127.0.0.1"}, hosts


def test_screenshots_are_pictures(browser):
    pngs = sorted(browser.shots.glob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    if os.environ.get("MAL2_KEEP_SCREENSHOTS"):
        shutil.copytree(browser.shots, os.environ["MAL2_KEEP_SCREENSHOTS"], dirs_exist_ok=True)
