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
from selenium.webdriver.common.keys import Keys  # noqa: I001
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# every demo login and the name the web client shows once logged in
DEMO_USERS = {
    'admin': "Administrator", 'crm_admin': "Wang Jun", 'manager': "Zhao Lei",
    'rep': "Liu Yang", 'channel': "Zheng Hao", 'agent': "Lin Na",
    'service_manager': "Chen Gang", 'finance': "Ma Li"}

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
            (By.CSS_SELECTOR, 'input#login')))
    # the database list is not published ([database] list = False):
    # sao shows a free text field for the database name
    database = driver.find_elements(By.CSS_SELECTOR, 'input#database')
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
    parser.add_argument('--all-users', action='store_true',
        help="also log in as every demo user and check the session opens")
    args = parser.parse_args(argv)
    failures = 0
    if args.all_users:
        failures += check_all_users(args)
    failures += check_menu(args)
    print("browser smoke test: %d passed, %d failed" % (
            (1 + (len(DEMO_USERS) if args.all_users else 0)) - failures,
            failures))
    return 1 if failures else 0


def check_all_users(args):
    failures = 0
    for login_name, shown_name in DEMO_USERS.items():
        with tempfile.TemporaryDirectory() as profile:
            driver = make_driver(args.chromium, args.chromedriver, profile)
            wait = WebDriverWait(driver, args.timeout)
            try:
                login(driver, wait, args.url, args.db, login_name,
                    args.password)
                wait.until(EC.visibility_of_element_located((By.XPATH,
                            "//nav//*[contains(normalize-space(.), '%s')]"
                            % shown_name)))
                print("login %-16s ok (%s)" % (login_name, shown_name))
            except TimeoutException:
                failures += 1
                name = args.screenshot.replace('.png', '-%s.png' % login_name)
                driver.save_screenshot(name)
                print("login %-16s FAILED; screenshot %s" % (login_name, name))
            finally:
                driver.quit()
    return failures


def check_menu(args):

    with tempfile.TemporaryDirectory() as profile:
        driver = make_driver(args.chromium, args.chromedriver, profile)
        driver.set_page_load_timeout(args.timeout)
        wait = WebDriverWait(driver, args.timeout)
        try:
            login(driver, wait, args.url, args.db, args.login, args.password)
            # the menu is a tree: expand the node by its expander
            entry = wait.until(EC.visibility_of_element_located((By.XPATH,
                        "//div[contains(@class, 'column-char')]"
                        "[normalize-space(text())='%s']" % args.menu)))
            expander = entry.find_element(By.XPATH,
                "ancestor::div[contains(@class, 'cell')][1]"
                "//span[contains(@class, 'expander')]")
            expander.click()
            deadline = time.monotonic() + args.timeout
            shown = []
            while time.monotonic() < deadline:
                texts = visible_texts(driver, 'div.column-char')
                shown = [e for e in EXPECTED if e in texts]
                if len(shown) == len(EXPECTED):
                    break
                time.sleep(0.5)
            # open the first entry to show that it works, not only listed
            if "Accounts" in shown:
                account = driver.find_element(By.XPATH,
                    "//div[contains(@class, 'column-char')]"
                    "[normalize-space(text())='Accounts']")
                webdriver.ActionChains(driver).double_click(account).perform()
                wait.until(EC.visibility_of_element_located((By.XPATH,
                            "//*[contains(@class, 'tab-pane') or "
                            "contains(@class, 'nav-tabs')]"
                            "//*[contains(normalize-space(.), 'Accounts')]")))
                time.sleep(2)
            driver.save_screenshot(args.screenshot)
            missing = [e for e in EXPECTED if e not in shown]
            print("menu %r shows: %s" % (args.menu, ", ".join(shown)))
            print("screenshot saved to %s" % args.screenshot)
            if missing:
                print("MISSING menu entries: %s" % ", ".join(missing))
                return 1
            return 0
        except TimeoutException as exception:
            driver.save_screenshot(args.screenshot)
            print("menu check failed (timeout): %s; screenshot %s"
                % (exception.msg or exception, args.screenshot))
            return 1
        finally:
            driver.quit()


if __name__ == '__main__':
    sys.exit(main())
