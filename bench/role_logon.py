#!/usr/bin/env python3
"""Role-logon round trip against a running `gatehouse up` demo.

Signs alice in to the Cloud SSO portal through IDaaS once, then repeats "Log on with a RAM role":
portal form -> Cloud SSO signs a role-based SAML Response -> auto-POST to the cloud's role sign-in
endpoint -> the console landing page as AliyunReservedSSO-<name>. Each round trip is three HTTP
requests and one RSA signature + one verification on the server. Prints JSON: median, p90 and the
rate for one sequential client. Standard library only.

Usage: role_logon.py <demo.json> [seconds]
"""
import html
import http.cookiejar
import json
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request


def fields(page):
    out = []
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            out.append((name.group(1), html.unescape(value.group(1) if value else "")))
    return out


def form(page, base, action_part):
    for m in re.finditer(r"<form[^>]*action=\"([^\"]*)\"[^>]*>(.*?)</form>", page, re.S):
        action = html.unescape(m.group(1))
        if action_part in action:
            return urllib.parse.urljoin(base, action), fields(m.group(2))
    raise SystemExit(f"no form with action containing {action_part!r} at {base}")


def main():
    demo = json.load(open(sys.argv[1]))
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(url):
        r = opener.open(url)
        return r.geturl(), r.read().decode()

    def post(url, data):
        r = opener.open(url, data=urllib.parse.urlencode(data).encode())
        return r.geturl(), r.read().decode()

    alice = demo["idaas"]["users"][0]
    url, page = get(demo["cloudsso"]["portal_url"])
    url, page = post(*form(page, url, "/saml2/sso"))
    action, data = form(page, url, "/login")
    data = [(k, v) for k, v in data if k not in ("username", "password")]
    data += [("username", alice["username"]), ("password", alice["password"])]
    url, page = post(action, data)
    portal_url, portal = post(*form(page, url, "/saml/acs/"))
    role_logon = form(portal, portal_url, "/portal/role-logon")

    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        url, page = post(*role_logon)
        _, console = post(*form(page, url, "/cloud/signin/saml-role/sso"))
        times.append(time.perf_counter() - t0)
        if "AliyunReservedSSO-" not in console:
            raise SystemExit("role logon did not reach the console")
    times.sort()
    print(json.dumps({
        "round_trips": len(times),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p90_ms": round(times[int(len(times) * 0.9)] * 1000, 2),
        "per_second_one_client": round(len(times) / sum(times), 1),
    }))


if __name__ == "__main__":
    main()
