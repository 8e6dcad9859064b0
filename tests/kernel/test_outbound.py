"""Outbound URLs: https to public addresses only (outside development), checked again at resolution."""

import ipaddress

import pytest

from kernel.errors import ValidationFailed
from kernel.outbound import check_url, is_public, resolve


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/x",            # not https
    "ftp://hooks.example.com/x",
    "https://127.0.0.1/x", "https://10.1.2.3/x", "https://172.16.0.1/x", "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data", "https://100.64.0.1/x", "https://0.0.0.0/x",
    "https://[::1]/x", "https://[fe80::1]/x", "https://[fc00::1]/x", "https://[::ffff:10.0.0.1]/x",
    "https://[2002:0a00:0001::1]/x",          # 6to4 wrapping 10.0.0.1
    "https://[64:ff9b::a00:1]/x",             # NAT64 wrapping 10.0.0.1
    "https://224.0.0.1/x", "https://localhost/x", "https://printer.local/x",
    "https://user:pw@hooks.example.com/x", "https:///nohost", "https://hooks.example.com:99999/x",
    "not a url", "https://" + "a" * 2050 + ".com/",
])
def test_refused_outside_development(url):
    with pytest.raises(ValidationFailed) as err:
        check_url(url, allow_private=False)
    assert err.value.errors[0]["loc"] == ["body", "url"]


def test_public_https_urls_pass_and_development_allows_local_http():
    target = check_url("https://hooks.example.com:8443/ipm?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert check_url("https://8.8.8.8/hook", allow_private=False).port == 443
    assert check_url("http://127.0.0.1:9000/hook", allow_private=True).port == 9000
    with pytest.raises(ValidationFailed):
        check_url("ftp://127.0.0.1/hook", allow_private=True)


def test_is_public():
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("2606:4700::1111"))
    for private in ("10.0.0.1", "127.0.0.2", "::ffff:127.0.0.1", "169.254.1.1", "ff02::1"):
        assert not is_public(ipaddress.ip_address(private)), private


def _resolver(answer):
    async def fake(host, port):
        fake.asked = (host, port)
        if isinstance(answer, Exception):
            raise answer
        return answer
    return fake


async def test_resolution_must_give_only_public_addresses():
    fake = _resolver(["93.184.216.34", "93.184.216.34", "2606:4700::1111"])
    target, addresses = await resolve("https://hooks.example.com/x", allow_private=False, resolver=fake)
    assert target.host == "hooks.example.com" and fake.asked == ("hooks.example.com", 443) and addresses == ["93.184.216.34", "2606:4700::1111"]
    # A public name that resolves to an internal address (DNS rebinding, a hostile record) is refused.
    for answer in (["93.184.216.34", "10.0.0.7"], ["169.254.169.254"], [], OSError("no such host")):
        with pytest.raises(ValidationFailed):
            await resolve("https://hooks.example.com/x", allow_private=False, resolver=_resolver(answer))
    # Development: local receivers are fine.
    _, local = await resolve("http://receiver.test/x", allow_private=True, resolver=_resolver(["127.0.0.1"]))
    assert local == ["127.0.0.1"]


async def test_localhost_resolves_through_the_system_resolver_and_is_refused():
    with pytest.raises(ValidationFailed):
        await resolve("https://127.0.0.1/x", allow_private=False)
    _, addresses = await resolve("http://localhost:8000/x", allow_private=True)
    assert all(not is_public(ipaddress.ip_address(a)) for a in addresses)


def test_settings_decide_by_environment():
    from kernel.settings import Settings

    assert Settings(env="development").allows_private_outbound
    assert not Settings(env="production", jwt_secret="x" * 40, admin_password="real-admin-pass",
                        payment_webhook_secret="whsec_" + "y" * 20).allows_private_outbound
    assert not Settings(env="development", outbound_allow_private=False).allows_private_outbound
