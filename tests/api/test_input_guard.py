"""Control characters and oversized integers answer 422 at the boundary, and nothing is written."""

import json
from urllib.parse import quote

import pytest

from tests.helpers import assert_problem, credit_code, table_counts

NUL, C1, ESC = "\u0000", "\u0085", "\u001b"


def _need(title="电池热管理需求", description="需要一种电池热管理方案"):
    return {"title": title, "description": description}


async def _refused(response, loc):
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == loc, problem
    return problem


@pytest.mark.parametrize("bad", [NUL, C1, ESC, "\u007f", "\u009f"])
async def test_control_characters_anywhere_are_422_and_write_nothing(api, client, app, bad):
    sme = await api.org("sme")
    admin = await api.admin()
    before = await table_counts(app)
    await _refused(await client.post("/auth/token", data={"username": f"a{bad}@x.cn", "password": "pw"}),
                   ["body", "username"])
    await _refused(await client.get("/assets/" + quote(f"ast{bad}1"), headers=sme.headers), ["path"])
    await _refused(await client.get("/assets", params={"q": f"电池{bad}"}, headers=sme.headers), ["query", "q"])
    await _refused(await client.post("/tech-needs", json=_need(title=f"需求{bad}"), headers=sme.headers),
                   ["body", "title"])
    await _refused(await client.post("/tech-needs", json=_need(description=f"多行\n说明{bad}"), headers=sme.headers),
                   ["body", "description"])
    await _refused(await client.post("/orgs", json={"name": f"银行{bad}", "kind": "bank", "credit_code": credit_code()},
                                     headers=admin.headers), ["body", "name"])
    await _refused(await client.post("/tech-needs", json={**_need(), f"k{bad}": 1}, headers=sme.headers),
                   ["body", f"k{bad}"])
    assert await table_counts(app) == before


async def test_line_breaks_only_in_multi_line_fields(api, client, app):
    sme = await api.org("sme")
    r = await client.post("/tech-needs", json=_need(description="第一行\n第二行\r\n\t缩进"), headers=sme.headers)
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "第一行\n第二行\r\n\t缩进"
    for title in ("一行\n两行", "制表\t符"):
        await _refused(await client.post("/tech-needs", json=_need(title=title), headers=sme.headers), ["body", "title"])
    await _refused(await client.get("/assets", params={"q": "a\nb"}, headers=sme.headers), ["query", "q"])
    # Text that merely looks like an escape is ordinary text.
    r = await client.post("/tech-needs", json=_need(title="路径 C:\\u0000 与 \\n"), headers=sme.headers)
    assert r.status_code == 201 and r.json()["title"] == "路径 C:\\u0000 与 \\n"


async def test_raw_utf8_c1_characters_and_nested_values_are_refused(api, client):
    sme = await api.org("sme")
    body = json.dumps({**_need(), "ipc_codes": ["H01M 10/613", "H01M\u008510/60"]}, ensure_ascii=False).encode()
    r = await client.post("/tech-needs", content=body, headers={**sme.headers, "content-type": "application/json"})
    await _refused(r, ["body", "ipc_codes", 1])


async def test_huge_integers_are_422_not_400_or_500(api, client, app):
    sme = await api.org("sme")
    before = await table_counts(app)
    for number in ("9" * 5000, str(2**63), "-" + str(2**63 + 1)):
        body = b'{"days": ' + number.encode() + b"}"
        r = await client.post("/clock/advance", content=body,
                              headers={**(await api.admin()).headers, "content-type": "application/json"})
        await _refused(r, ["body"] if len(number) > 4000 else ["body", "days"])
        r = await client.post("/tech-needs", content=b'{"title": "t", "description": "d", "x": [' + number.encode()
                              + b"]}", headers={**sme.headers, "content-type": "application/json"})
        assert_problem(r, 422, "validation_error")
    assert_problem(await client.get("/assets", params={"limit": "9" * 5000}, headers=sme.headers),
                   422, "validation_error")
    # Large but legal values still reach the schema, which judges them as before.
    r = await client.post("/clock/advance", json={"days": 2**62}, headers=(await api.admin()).headers)
    assert_problem(r, 422, "validation_error")
    assert await table_counts(app) == before


def test_the_rule_as_a_pydantic_type():
    from pydantic import BaseModel, ValidationError

    from kernel.text import MultiLine, SingleLine

    class Form(BaseModel):
        name: SingleLine
        notes: MultiLine

    assert Form(name="ok", notes="a\nb\tc").notes == "a\nb\tc"
    for bad in ({"name": "a\nb", "notes": ""}, {"name": "a", "notes": "x\u0000"}, {"name": "\u0085", "notes": ""}):
        with pytest.raises(ValidationError):
            Form(**bad)
