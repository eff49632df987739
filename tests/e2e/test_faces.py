"""The faces in a real browser (issue 11): headless Chromium drives the desk served by
``node run``, the township's by ``township serve`` and the console by ``hub serve``.

Few tests, each a whole story: the case from the village desk to the county and back, the
attacks on the logins and forms, the desk with the county down, the township's queue."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest

from bianmin.demo import resident_id, sample_calendar
from bianmin.procs import run
from node.web.security import totp_at
from tests.e2e.faces import (
    CONSOLE_PASSWORD,
    DESK_PASSWORD,
    browser_session,
    console_account,
    desk_account,
    eventually,
    login,
    new_page,
    node_run,
    shoot,
)
from tests.e2e.helpers import TEMP_RELIEF, hub, take
from tests.incli import setup

pytestmark = pytest.mark.e2e

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
NAME_XSS = "<img src=x onerror=alert(1)>"  # a name is at most 50 characters (node.kernel.text)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
                       "WjR9awAAAABJRU5ErkJggg==")  # one pixel
ID_ZHANG = resident_id("36011219580301102")


def test_a_case_goes_from_the_desk_to_the_county_and_back_in_a_browser(federation, tmp_path):
    setup("hub", "calendar", "load", str(sample_calendar()), "--home", str(federation.hub_home))
    v1 = federation.enrol("V001")
    desk_account(v1)
    # 刘芳: 区民政局, the item's; 王强: another department; 孙丽: supervisor; 吴磊: IT admin
    for name in ("刘芳", "王强", "孙丽", "吴磊"):
        console_account(federation.hub_home, name)
    console = federation.hub.info["console"]
    scan = tmp_path / "身份证.png"
    scan.write_bytes(PNG)
    with node_run(v1, tmp_path / "v001.log") as daemon, browser_session() as browser:
        desk = daemon.info["desk"]
        agent = new_page(browser)
        login(agent, desk, "wang", DESK_PASSWORD)
        assert "王小红" in agent.inner_text("header")
        agent.goto(f"{desk}/catalog?q=低保")
        agent.goto(f"{desk}/catalog")
        agent.click("text=最低生活保障审批")
        assert "家庭收入证明" in agent.inner_text("main")  # the item's service guide
        agent.click("text=受理这个事项")
        agent.fill("input[name=name]", NAME_XSS + "张秀英")
        agent.fill("input[name=id_number]", ID_ZHANG[:-1] + "0")  # a wrong check digit
        agent.press("input[name=id_number]", "Tab")
        eventually(lambda: "check digit" in agent.inner_text("#id-check"), within_s=10,
                   what="the resident-ID check")
        agent.fill("input[name=id_number]", ID_ZHANG)
        agent.press("input[name=id_number]", "Tab")
        eventually(lambda: "身份证号码有效" in agent.inner_text("#id-check"), within_s=10,
                   what="the resident-ID check")
        agent.fill("input[name=phone]", "13800138000")  # a phone number has its pattern
        for code in ("application", "hukou", "income_proof", "assets_statement"):
            agent.check(f"input[name=paper_{code}]")
        agent.set_input_files("input[name=file_id_card]", str(scan))
        agent.fill("input[name=field_household_size]", "3")
        agent.fill("input[name=field_monthly_income_yuan]", "1200")
        agent.click("button[value=review]")
        eventually(lambda: "材料齐全" in agent.inner_text("#review"), within_s=10,
                   what="the pre-review")
        shoot(agent, "desk-intake")
        agent.click("button[value=submit]")
        agent.wait_for_url(re.compile(r"/receipt"))
        receipt = agent.inner_text("article.receipt")
        case_id = re.search(r"360112-V001-\d{8}-\d{4}", receipt).group(0)
        receipt_code = re.search(r"查询码：(\S{4}-\S{4})", receipt).group(1)
        assert "<***英" in receipt  # the name is text, and masked
        assert "预计" in receipt
        assert "工作日" in receipt
        assert "按县里发布的工作日日历" in receipt  # the calendar the county signed
        shoot(agent, "desk-receipt")
        assert agent.pdf(format="A4").startswith(b"%PDF")  # printed from the browser
        pdf = agent.request.get(f"{desk}/cases/{case_id}/receipt.pdf?paper=a5")
        assert pdf.ok
        assert pdf.body().startswith(b"%PDF")

        def synced() -> bool:
            agent.goto(f"{desk}/")
            return "全部已上传" in agent.inner_text("#statusline")
        eventually(synced, what="the desk's sync status line saying everything is uploaded")
        shoot(agent, "desk-home")

        # the county: the operator of the item's department sees it in her queue
        op = new_page(browser)
        login(op, console, "刘芳", CONSOLE_PASSWORD)

        def queued() -> bool:
            op.goto(f"{console}/queue")
            return case_id in op.inner_text("main")
        eventually(queued, what="the case in 刘芳's queue")
        shoot(op, "console-queue")
        op.click(f"text={case_id}")
        page_text = op.inner_text("main")
        assert NAME_XSS + "张秀英" in page_text  # every text stays text
        scan_link = op.get_attribute("a[href*='/scans/']", "href")
        got = op.request.get(f"{console}{scan_link}")
        assert got.ok
        assert got.body() == PNG
        op.check("form[action$='request_supplement'] input[value=income_proof]")
        op.fill("form[action$='request_supplement'] textarea", "请补交近三个月的收入证明" + XSS)
        op.click("form[action$='request_supplement'] button")
        assert "已补正告知" in op.inner_text("main")
        shoot(op, "console-case")

        # another department's operator sees nothing of the case, whatever the entrance
        other = new_page(browser)
        login(other, console, "王强", CONSOLE_PASSWORD)
        other.goto(f"{console}/queue")
        assert case_id not in other.inner_text("main")
        other.goto(f"{console}/cases?q={case_id}")
        assert case_id not in other.inner_text("main")
        assert other.goto(f"{console}/cases/{case_id}").status == 404
        assert other.request.get(f"{console}{scan_link}").status == 404
        csrf = other.get_attribute("input[name=csrf]", "value")
        forced = other.request.post(f"{console}/cases/{case_id}/act/approve",
                                    form={"csrf": csrf, "reason": "越权"})
        assert forced.status == 404
        assert "越权" not in hub(federation, "trail", "--case", case_id).stdout

        # back at the desk: the supplement request arrives, the agent uploads it
        def asked() -> bool:
            agent.goto(f"{desk}/cases/{case_id}")
            return "待补正" in agent.inner_text("main")
        eventually(asked, what="the supplement request at the desk")
        assert "请补交近三个月的收入证明" + XSS in agent.inner_text("main")
        agent.set_input_files("input[name=file_income_proof]", str(scan))
        agent.click("form[action$='/supplement'] button")
        assert "已补正" in agent.inner_text("main")

        # the county approves
        def supplemented() -> bool:
            op.goto(f"{console}/cases/{case_id}")
            return op.query_selector("form[action$='/act/approve']") is not None
        eventually(supplemented, what="the supplement at the county")
        op.fill("form[action$='/act/approve'] textarea", "符合最低生活保障条件")
        op.click("form[action$='/act/approve'] button")
        assert "已准予许可" in op.inner_text("main")
        trail = hub(federation, "trail", "--case", case_id).stdout
        assert "刘芳 (console)" in trail  # the authenticated operator, and how

        # the supervisor sees every case and the statistics, and acts on none; the
        # administrator sees no case
        boss = new_page(browser)
        login(boss, console, "孙丽", CONSOLE_PASSWORD)
        assert boss.url.endswith("/supervision")
        assert "按时办结率" in boss.inner_text("main")
        shoot(boss, "console-supervision")
        boss.goto(f"{console}/cases/{case_id}")
        assert boss.query_selector("form[action*='/act/']") is None
        csrf = boss.get_attribute("input[name=csrf]", "value")
        assert boss.request.post(f"{console}/cases/{case_id}/act/reject",
                                 form={"csrf": csrf, "reason": "x"}).status == 403
        boss.goto(f"{console}/trail?case={case_id}")
        assert "控制台登录" in boss.inner_text("main")
        shoot(boss, "console-trail")
        admin = new_page(browser)
        login(admin, console, "吴磊", CONSOLE_PASSWORD)
        assert admin.url.endswith("/accounts")
        shoot(admin, "console-accounts")
        assert admin.goto(f"{console}/cases/{case_id}").status == 403

        # the desk shows the result and hands it over, printing the result slip
        def decided() -> bool:
            agent.goto(f"{desk}/cases/{case_id}")
            return "准予许可" in agent.inner_text("main")
        eventually(decided, what="the decision at the desk")
        shoot(agent, "desk-case")
        agent.click("form[action$='/conclude'] button")
        agent.wait_for_url(re.compile(r"/slip"))
        slip = agent.inner_text("article.receipt")
        assert "办结结果单" in slip
        assert "准予许可" in slip
        code = re.search(r"验证码：(\S{4}-\S{4})", slip).group(1)
        assert agent.pdf(format="A5").startswith(b"%PDF")
        shoot(agent, "desk-slip")

        # the public lookup, with the slip's code (or the receipt's), shows the state
        public = new_page(browser)
        for given in (code, receipt_code):
            public.goto(f"{console}/lookup")
            public.fill("input[name=case_id]", case_id)
            public.fill("input[name=code]", given.lower())
            public.click("button[type=submit]")
            eventually(lambda: "准予许可" in public.inner_text("main"), within_s=20,
                       what="the result in the public lookup")
        shown = public.inner_text("#result")
        assert "张秀英" not in shown
        assert ID_ZHANG not in shown
        shoot(public, "public-lookup")
        public.goto(f"{console}/lookup")
        public.fill("input[name=case_id]", case_id)
        public.fill("input[name=code]", "AAAA-AAAA")
        public.click("button[type=submit]")
        assert "没有查到" in public.inner_text("main")
        for page in (agent, op, other, boss, admin, public):
            assert page.dialogs == []  # no injected script ever ran


def test_logins_lock_out_forms_need_their_token_and_a_second_factor_is_asked(federation,
                                                                              tmp_path):
    console_account(federation.hub_home, "刘芳")
    console = federation.hub.info["console"]
    with browser_session() as browser:
        page = new_page(browser)
        for _ in range(5):
            login(page, console, "刘芳", "not-the-password")
        assert "已锁定" in page.inner_text("main")
        login(page, console, "刘芳", CONSOLE_PASSWORD)
        assert "已锁定" in page.inner_text("main")  # the right password does not help now
        shoot(page, "console-locked")
        setup("hub", "operator", "unlock", "刘芳", "--home", str(federation.hub_home))
        login(page, console, "刘芳", CONSOLE_PASSWORD)
        assert page.url.endswith("/queue")
        trail = hub(federation, "trail", "--operator", "刘芳").stdout
        assert "LoggedIn" in trail

        # a form without its token, or with another session's, is refused and does nothing
        missing = page.request.post(f"{console}/logout", form={})
        assert missing.status == 403
        assert "CSRF" in missing.text()
        forged = page.request.post(f"{console}/accounts/unlock",
                                   form={"csrf": "x" * 43, "name": "刘芳"})
        assert forged.status == 403
        page.goto(f"{console}/queue")
        assert page.url.endswith("/queue")  # still logged in: the logout was refused

        # a clerk opens no administrator's page
        assert page.goto(f"{console}/accounts").status == 403

        # the public lookup counts every try from one address, found or not
        public = new_page(browser)
        statuses = []
        for _ in range(11):
            public.goto(f"{console}/lookup")
            public.fill("input[name=case_id]", "360112-V001-20261201-0001")
            public.fill("input[name=code]", "AAAA-AAAA")
            with public.expect_response(lambda r: r.request.method == "POST") as answer:
                public.click("button[type=submit]")
            statuses.append(answer.value.status)
        assert statuses == [404] * 10 + [429]
        assert "查询太频繁" in public.inner_text("main")

        # with a second factor, the password alone opens only the code page
        secret = setup("hub", "operator", "totp", "刘芳", "--home", str(federation.hub_home),
                       "--json").json()["secret"]
        fresh = new_page(browser)
        login(fresh, console, "刘芳", CONSOLE_PASSWORD)
        assert fresh.url.endswith("/login/totp")
        assert fresh.goto(f"{console}/queue").url.endswith("/login/totp")
        fresh.fill("input[name=code]", "000000" if totp_at(secret, dt.datetime.now(dt.UTC))
                   != "000000" else "111111")
        fresh.click("button[type=submit]")
        assert "不对" in fresh.inner_text("main") or "锁定" in fresh.inner_text("main")
        fresh.fill("input[name=code]", totp_at(secret, dt.datetime.now(dt.UTC)))
        fresh.click("button[type=submit]")
        assert fresh.url.endswith("/queue")


def test_the_desk_keeps_working_with_the_county_down(federation, tmp_path):
    v1 = federation.enrol("V001")
    desk_account(v1)
    federation.stop_hub()
    with node_run(v1, tmp_path / "v001.log") as daemon, browser_session() as browser:
        desk = daemon.info["desk"]
        agent = new_page(browser)
        login(agent, desk, "wang", DESK_PASSWORD)
        agent.goto(f"{desk}/intake/MZ-003")  # 高龄津贴: two materials, no fields
        agent.fill("input[name=name]", "李大爷")
        agent.fill("input[name=id_number]", resident_id("36011219400101101"))
        agent.check("input[name=paper_id_card]")
        agent.click("button[value=submit]")
        agent.wait_for_url(re.compile(r"/receipt"))
        case_id = re.search(r"360112-V001-\d{8}-\d{4}",
                            agent.inner_text("article.receipt")).group(0)
        assert "银行卡" in agent.inner_text("article.receipt")  # what is missing, to bring

        def offline() -> bool:
            agent.goto(f"{desk}/")
            return "暂时连不上" in agent.inner_text("#statusline")
        eventually(offline, within_s=60, what="the status line saying the county is away")
        assert "1 件待上传" in agent.inner_text("#statusline")
        shoot(agent, "desk-offline")
        # the applicant withdraws, the reason typed as an attacker would: it stays text
        agent.goto(f"{desk}/cases/{case_id}")
        agent.fill("form[action$='/withdraw'] input[name=reason]", XSS)
        agent.click("form[action$='/withdraw'] button")
        assert "已撤回" in agent.inner_text("main")
        assert XSS in agent.inner_text("main")
        # bad input gets one clear page and changes nothing
        agent.goto(f"{desk}/intake/MZ-003")
        agent.fill("input[name=name]", "王")
        agent.fill("input[name=id_number]", "123")
        agent.click("button[value=submit]")
        assert "身份证号码有误" in agent.inner_text("main")
        assert agent.goto(f"{desk}/cases/NO-SUCH-CASE").status == 404
        assert agent.dialogs == []
    federation.start_hub(same_ports=True)


def test_the_township_desk_decides_its_delegated_cases(federation, tree, tmp_path):
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-002", "--operator", "陈工")
    v11 = tree.village("V011")
    tree.sync()
    delegated = take(v11, TEMP_RELIEF, name=NAME_XSS)
    run("node", "sync", "--home", str(v11))
    tree.stop()
    setup("node", "account", "add", "zhao", "--display-name", "赵敏", "--password",
          DESK_PASSWORD, "--home", str(tree.home))
    tree.start()
    desk = tree.proc.info["desk"]
    with browser_session() as browser:
        clerk = new_page(browser)
        login(clerk, desk, "zhao", DESK_PASSWORD)
        clerk.goto(f"{desk}/delegated")
        assert delegated in clerk.inner_text("main")
        assert NAME_XSS in clerk.inner_text("main")
        shoot(clerk, "township-queue")
        clerk.click(f"a[href='/delegated/{delegated}']")
        clerk.check("input[value=approve]")
        clerk.fill("textarea[name=reason]", "经入户核实，情况属实")
        clerk.click("form button.primary")
        assert "准予许可" in clerk.inner_text("main")
        assert clerk.dialogs == []

    def at_village() -> bool:
        run("node", "sync", "--home", str(v11))
        return run("node", "show", delegated, "--home", str(v11), "--json").json()[
            "state"] == "approved"
    eventually(at_village, within_s=30, every_s=1, what="the township's decision at the village")
    assert "赵敏" in run("node", "show", delegated, "--home", str(v11)).stdout


def test_the_desk_asks_before_taking_the_same_application_twice(federation, tmp_path):
    """A second application of the same person for the same item while the first is open:
    the desk warns, names the open case, and takes it only once the agent confirms."""
    v1 = federation.enrol("V001")
    desk_account(v1)
    with node_run(v1, tmp_path / "v001.log") as daemon, browser_session() as browser:
        desk = daemon.info["desk"]
        agent = new_page(browser)
        login(agent, desk, "wang", DESK_PASSWORD)

        def fill_temp_relief() -> None:
            agent.goto(f"{desk}/catalog")
            agent.click("text=临时救助")
            agent.click("text=受理这个事项")
            agent.fill("input[name=name]", "张秀英")
            agent.fill("input[name=id_number]", ID_ZHANG)
            agent.fill("input[name=phone]", "13800138000")
            for box in agent.query_selector_all("input[type=checkbox][name^=paper_]"):
                box.check()
            for field in agent.query_selector_all("input[name^=field_]"):
                field.fill("800")

        fill_temp_relief()
        agent.click("button[value=submit]")
        agent.wait_for_url(re.compile(r"/receipt"))
        first = re.search(r"360112-V001-\d{8}-\d{4}", agent.inner_text("article.receipt"))
        assert first is not None
        fill_temp_relief()
        agent.click("button[value=submit]")
        eventually(lambda: "已有同一事项正在办理" in agent.inner_text("main"),
                   within_s=10, what="the duplicate warning")
        assert first.group(0) in agent.inner_text("main")  # it names the open case
        agent.check("input[name=confirm_duplicate]")
        for box in agent.query_selector_all("input[type=checkbox][name^=paper_]"):
            box.check()
        agent.click("button[value=submit]")
        agent.wait_for_url(re.compile(r"/receipt"))
        second = re.search(r"360112-V001-\d{8}-\d{4}", agent.inner_text("article.receipt"))
        assert second is not None
        assert second.group(0) != first.group(0)

        # a phone number that is none: the form again, what is wrong in Chinese first, the
        # detail for the county's IT team after it, nothing saved
        fill_temp_relief()
        agent.fill("input[name=name]", "李四")
        agent.fill("input[name=id_number]", resident_id("36011219700101101"))
        agent.fill("input[name=phone]", "abc")
        agent.click("button[value=submit]")
        eventually(lambda: "联系电话格式不对" in agent.inner_text("main"), within_s=10,
                   what="the refused phone number")
        assert "详细说明" in agent.inner_text("main")
        assert "没有保存" in agent.inner_text("main")
        shoot(agent, "desk-intake-refused")
