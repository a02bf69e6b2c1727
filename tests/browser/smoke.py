#!/usr/bin/env python3
# This file is part of HiTech CRM. See LICENSE for details.
"""Browser smoke test: the real sao web client in headless Chromium.

Logs in to a running demo server as a demo user, opens the CRM menu and
checks that its entries are shown, then saves a screenshot.  Exits
non-zero on any failure.

    python tests/browser/smoke.py --url http://127.0.0.1:8000 --db demo \\
        --login rep --password HiTech-demo-2026 --screenshot var/smoke.png
"""
import argparse
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

EXPECTED = [
    "Accounts", "Opportunities", "Quotations", "Sales Projects",
    "Sales Organisation", "Pipeline Reporting"]


def make_driver(chromium, chromedriver, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in [
            '--headless=new', '--no-sandbox', '--disable-gpu',
            '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', '--disable-dev-shm-usage',
            '--window-size=1366,900', '--user-data-dir=%s' % profile,
            '--lang=en-US']:
        options.add_argument(arg)
    return webdriver.Chrome(
        service=Service(executable_path=chromedriver), options=options)


def visible_texts(driver, css):
    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, css)
        if e.is_displayed() and e.text.strip()]


def login(driver, wait, url, db, user, password):
    driver.get('%s/#%s' % (url.rstrip('/'), db))
    username = wait.until(EC.visibility_of_element_located(
            (By.CSS_SELECTOR, 'input#login-login, input[name="login"]')))
    database = driver.find_elements(By.CSS_SELECTOR, 'input#database-name')
    if database and database[0].is_displayed() and \
            not database[0].get_attribute('value'):
        database[0].send_keys(db)
    username.clear()
    username.send_keys(user)
    username.send_keys(Keys.ENTER)
    secret = wait.until(EC.visibility_of_element_located(
            (By.CSS_SELECTOR, 'input[type="password"]')))
    secret.send_keys(password)
    secret.send_keys(Keys.ENTER)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', default='http://127.0.0.1:8000')
    parser.add_argument('--db', default='demo')
    parser.add_argument('--login', default='rep')
    parser.add_argument('--password', default='HiTech-demo-2026')
    parser.add_argument('--menu', default='CRM')
    parser.add_argument('--screenshot', default='var/browser-smoke.png')
    parser.add_argument('--chromium', default='/usr/bin/chromium')
    parser.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    parser.add_argument('--timeout', type=int, default=60)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as profile:
        driver = make_driver(args.chromium, args.chromedriver, profile)
        driver.set_page_load_timeout(args.timeout)
        wait = WebDriverWait(driver, args.timeout)
        try:
            login(driver, wait, args.url, args.db, args.login, args.password)
            # the menu is a tree; its root entries are rows of the tree
            menu = wait.until(EC.visibility_of_element_located((By.XPATH,
                        "//*[contains(@class, 'menu')]"
                        "//*[normalize-space(text())='%s']" % args.menu)))
            menu.click()
            time.sleep(1)
            # expand the CRM node: sao expands on click of the expander
            # or on double click; try both until the children show
            deadline = time.monotonic() + args.timeout
            shown = []
            while time.monotonic() < deadline:
                body = driver.find_element(By.TAG_NAME, 'body').text
                shown = [e for e in EXPECTED if e in body]
                if len(shown) == len(EXPECTED):
                    break
                expanders = driver.find_elements(By.XPATH,
                    "//*[normalize-space(text())='%s']/ancestor::tr[1]"
                    "//*[contains(@class, 'expander')]" % args.menu)
                if expanders:
                    expanders[0].click()
                else:
                    webdriver.ActionChains(driver).double_click(menu).perform()
                time.sleep(1)
            driver.save_screenshot(args.screenshot)
            missing = [e for e in EXPECTED if e not in shown]
            print("menu %r shows: %s" % (args.menu, ", ".join(shown)))
            print("screenshot saved to %s" % args.screenshot)
            if missing:
                print("MISSING menu entries: %s" % ", ".join(missing))
                return 1
            print("browser smoke test: 1 passed, 0 failed")
            return 0
        except TimeoutException as exception:
            driver.save_screenshot(args.screenshot)
            print("browser smoke test failed (timeout): %s; screenshot %s"
                % (exception.msg or exception, args.screenshot))
            return 1
        finally:
            driver.quit()


if __name__ == '__main__':
    sys.exit(main())
