"""The JavaScript side of the script runtime (app/engine/scripts/js): `pm`, chai-style `expect`, legacy
globals and the lockdown, driven through the two entry points exactly as the engine calls them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from py_mini_racer import MiniRacer

JS = Path(__file__).resolve().parents[3] / "app" / "engine" / "scripts" / "js"
ORDER = ["crypto.js", "moment.js", "schema.js", "expect.js", "pm.js", "lockdown.js"]
_ids = itertools.count()
BODY = json.dumps({"id": 7, "name": "widget", "tags": ["a", "b"], "owner": {"id": 1, "roles": ["admin"]}})


class Runtime:
    def __init__(self) -> None:
        self.ctx = MiniRacer()
        self.loaded = []
        for name in ORDER:
            path = JS / name
            if path.exists():
                self.ctx.eval(path.read_text())
                self.loaded.append(name)

    def compile(self, source: str, script_id: str | None = None) -> dict[str, Any]:
        return json.loads(self.ctx.call("__exile_compile", script_id or f"s{next(_ids)}", source))

    def run(self, source: str, event: str = "test", **overrides: Any) -> dict[str, Any]:
        script_id = f"s{next(_ids)}"
        compiled = self.compile(source, script_id)
        assert compiled["error"] is None, compiled
        return self.execute(script_id, event, **overrides)

    def execute(self, script_id: str, event: str = "test", **overrides: Any) -> dict[str, Any]:
        data = make_input(event, **overrides)
        return json.loads(self.ctx.call("__exile_execute", script_id, json.dumps(data)))


def make_input(event: str = "test", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": event,
        "info": {"iteration": 2, "iterationCount": 10, "requestName": "create order", "requestId": "step:1"},
        "request": {
            "method": "POST",
            "url": "http://api.test:8080/orders/7?x=1&y=two",
            "headers": [["Content-Type", "application/json"], ["X-Trace", "t1"]],
            "body": {"mode": "raw", "raw": '{"qty": 1}'},
        },
        "response": {
            "code": 201,
            "status": "Created",
            "headers": [
                ["Content-Type", "application/json; charset=utf-8"],
                ["X-Request-Id", "abc"],
                ["Set-Cookie", "session=s3cr3t; Path=/; HttpOnly"],
                ["Set-Cookie", "theme=dark"],
            ],
            "body": BODY,
            "responseTime": 12.5,
            "responseSize": 123,
        },
        "variables": {
            "runtime": {"shared": "runtime"},
            "step": {"shared": "step", "stepOnly": "s"},
            "data": {"shared": "data", "row": 3},
            "run": {"shared": "run", "runOnly": "r"},
            "scenario": {"shared": "scenario", "scenarioOnly": "sc"},
            "environment": {"shared": "env", "host": "api.test", "password": "hunter2"},
        },
        "secretNames": ["password"],
    }
    for key, value in overrides.items():
        data[key] = value
    return data


@pytest.fixture(scope="module")
def rt() -> Runtime:
    return Runtime()


def results(out: dict[str, Any]) -> dict[str, tuple[bool, str | None]]:
    return {t["name"]: (t["passed"], t["error"]) for t in out["tests"]}


def check(rt: Runtime, expression: str, **overrides: Any) -> str | None:
    """Runs one expectation inside pm.test; returns the failure message (None when it passed)."""
    out = rt.run(f"pm.test('t', function () {{ {expression}; }});", **overrides)
    assert out["error"] is None, out
    (test,) = out["tests"]
    return test["error"]


# ---- loading and entry points ----------------------------------------------------------------------
def test_files_load_in_contract_order(rt: Runtime):
    assert {"expect.js", "pm.js", "lockdown.js"} <= set(rt.loaded)
    assert rt.ctx.eval("Object.isFrozen(globalThis) && Object.isFrozen(Object.prototype)") is True


def test_compile_reports_syntax_errors_and_unsupported_names(rt: Runtime):
    bad = rt.compile("pm.test('x', function () {")
    assert bad["error"].startswith("SyntaxError: ")
    assert rt.compile("var x = 1;\n}); (function () {")["error"].startswith("SyntaxError")
    found = rt.compile("pm.sendRequest('http://x', function () {}); setTimeout(f, 1); require('lodash');")
    assert found["error"] is None
    assert found["unsupported"] == ["pm.sendRequest", "setTimeout", "require('lodash')"]
    assert rt.compile("require('crypto-js'); require('uuid')")["unsupported"] == (
        [] if "crypto.js" in rt.loaded else ["require('crypto-js')"]
    )
    # compiling the same id twice is harmless, and a later different source replaces it
    assert rt.compile("tests['a'] = true", "same")["error"] is None
    assert rt.compile("tests['a'] = true", "same")["error"] is None
    assert results(rt.execute("same")) == {"a": (True, None)}


def test_unknown_id_is_an_error_not_a_crash(rt: Runtime):
    out = rt.execute("never-compiled")
    assert out["error"]["message"] == "script never-compiled is not compiled"


# ---- pm.test and chai messages ------------------------------------------------------------------------
def test_tests_pass_fail_skip_and_keep_order(rt: Runtime):
    out = rt.run(
        """
        pm.test('status', function () { pm.response.to.have.status(201); });
        pm.test('wrong', function () { pm.expect(pm.response.code).to.equal(200); });
        pm.test.skip('later', function () { throw new Error('never'); });
        pm.test('type error', function () { null.x; });
        pm.test('thrown string', function () { throw 'boom'; });
        pm.test('done ok', function (done) { done(); });
        pm.test('done err', function (done) { done(new Error('late')); });
        """
    )
    assert [t["name"] for t in out["tests"]] == [
        "status", "wrong", "later", "type error", "thrown string", "done ok", "done err"
    ]  # fmt: skip
    r = results(out)
    assert r["status"] == (True, None)
    assert r["wrong"] == (False, "expected 201 to equal 200")
    assert out["tests"][2] == {"name": "later", "passed": True, "error": None, "skipped": True}
    assert r["type error"][1].startswith("TypeError: Cannot read properties of null")
    assert r["thrown string"] == (False, 'thrown value: "boom"')
    assert r["done ok"] == (True, None) and r["done err"] == (False, "Error: late")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("pm.expect(201).to.equal(200)", "expected 201 to equal 200"),
        ("pm.expect({a: 1}).to.deep.equal({a: 2})", "expected { a: 1 } to deeply equal { a: 2 }"),
        ("pm.expect({a: 1}).to.eql({a: 2})", "expected { a: 1 } to deeply equal { a: 2 }"),
        ("pm.expect('abc').to.include('x')", "expected 'abc' to include 'x'"),
        ("pm.expect([1, 2]).to.have.lengthOf(3)", "expected [ 1, 2 ] to have a length of 3 but got 2"),
        ("pm.expect([1, 2]).to.have.length(3)", "expected [ 1, 2 ] to have a length of 3 but got 2"),
        ("pm.expect([1, 2]).to.have.length.above(2)", "expected [ 1, 2 ] to have a length above 2 but got 2"),
        ("pm.expect('x').to.be.a('number')", "expected 'x' to be a number"),
        ("pm.expect([]).to.be.an('object')", "expected [] to be an object"),
        ("pm.expect(null).to.not.be.a('null')", "expected null not to be a null"),
        ("pm.expect(5).to.be.above(7)", "expected 5 to be above 7"),
        ("pm.expect(5).to.be.below(2)", "expected 5 to be below 2"),
        ("pm.expect(5).to.be.at.least(6)", "expected 5 to be at least 6"),
        ("pm.expect(5).to.be.at.most(4)", "expected 5 to be at most 4"),
        ("pm.expect(5).to.be.within(6, 9)", "expected 5 to be within 6..9"),
        ("pm.expect(4).to.be.oneOf([1, 2])", "expected 4 to be one of [ 1, 2 ]"),
        ("pm.expect('abc').to.match(/^x/)", "expected 'abc' to match /^x/"),
        ("pm.expect({a: 1}).to.have.property('b')", "expected { a: 1 } to have property 'b'"),
        ("pm.expect({a: 1}).to.have.property('a', 2)", "expected { a: 1 } to have property 'a' of 2, but got 1"),
        (
            "pm.expect({a: {b: [5]}}).to.have.nested.property('a.b[0]', 6)",
            "expected { a: { b: [ 5 ] } } to have nested property 'a.b[0]' of 6, but got 5",
        ),
        ("pm.expect({a: 1, b: 2}).to.have.keys('a', 'c')", "expected { a: 1, b: 2 } to have keys 'a', and 'c'"),
        ("pm.expect([1, 2]).to.have.members([2, 3])", "expected [ 1, 2 ] to have the same members as [ 2, 3 ]"),
        ("pm.expect(0).to.be.ok", "expected 0 to be truthy"),
        ("pm.expect(1).to.be.true", "expected 1 to be true"),
        ("pm.expect(undefined).to.exist", "expected undefined to exist"),
        ("pm.expect('').to.not.be.empty", "expected '' not to be empty"),
        ("pm.expect(1.5).to.be.closeTo(1, 0.1)", "expected 1.5 to be close to 1 +/- 0.1"),
        ("pm.expect('hello').to.have.string('z')", "expected 'hello' to contain 'z'"),
        ("pm.expect(3).to.satisfy(function (n) { return n > 5; })", "expected 3 to satisfy [Function]"),
        ("pm.expect(function () {}).to.throw()", "expected [Function] to throw an error"),
        ("pm.expect(1, 'custom').to.equal(2)", "custom: expected 1 to equal 2"),
        ("pm.expect({a: 1, b: 2}).to.include({b: 3})", "expected { a: 1, b: 2 } to have property 'b' of 3, but got 2"),
        ("pm.expect('a'.repeat(60)).to.equal('b')", "expected '" + "a" * 60 + "' to equal 'b'"),
        (
            "pm.expect({alpha: 1, beta: 2, gamma: 3, delta: 4}).to.be.empty",
            "expected { Object (alpha, beta, ...) } to be empty",
        ),
        ("pm.expect([1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]).to.include(99)", "expected [ Array(15) ] to include 99"),
    ],
)
def test_failure_messages_read_like_chai(rt: Runtime, expression: str, message: str):
    assert check(rt, expression) == message


def test_passing_chains(rt: Runtime):
    out = rt.run(
        """
        var d = pm.response.json();
        pm.test('all pass', function () {
          pm.expect(d).to.be.an('object').that.has.property('tags').that.is.an('array').with.lengthOf(2);
          pm.expect(d.tags).to.include.members(['b']).and.not.include('z');
          pm.expect(d).to.deep.include({owner: {id: 1, roles: ['admin']}});
          pm.expect(d).to.have.nested.property('owner.roles[0]', 'admin');
          pm.expect(d).to.have.own.property('id');
          pm.expect(d).to.have.all.keys('id', 'name', 'tags', 'owner');
          pm.expect(d).to.have.any.keys('id', 'nope');
          pm.expect(d).to.include.keys('id');
          pm.expect(d.tags).to.have.length.of.at.least(2);
          pm.expect(d.id).to.be.a('number').and.to.be.within(1, 10).and.to.be.gt(6).and.lt(8);
          pm.expect(d.name).to.be.oneOf(['widget', 'gadget']).and.to.match(/^wid/);
          pm.expect(null).to.be.null; pm.expect(undefined).to.be.undefined; pm.expect(NaN).to.be.NaN;
          pm.expect(false).to.be.false; pm.expect([]).to.be.empty; pm.expect({}).to.be.empty;
          pm.expect(new Date(0)).to.be.a('date'); pm.expect(/x/).to.be.a('regexp');
          pm.expect([new Date(5)]).to.deep.equal([new Date(5)]);
          pm.expect(0.3).to.be.closeTo(0.1 + 0.2, 1e-9);
          pm.expect(function () { throw new TypeError('bad thing'); }).to.throw(TypeError, 'bad');
          pm.expect(function () { throw new Error('bad thing'); }).to.throw(/thing/);
          pm.expect([1, 2]).to.not.equal([1, 2]); pm.expect([1, 2]).to.eql([1, 2]);
          pm.expect(new TypeError('x')).to.be.instanceOf(Error);
          pm.expect('abc').to.have.lengthOf(3).and.to.contain('b');
          pm.expect([{a: 1}]).to.deep.include({a: 1});
          pm.expect([3, 1]).to.have.same.members([1, 3]);
          pm.expect({a: 1}).to.not.have.property('a', 2);
        });
        """
    )
    assert results(out) == {"all pass": (True, None)}


def test_assertion_error_is_a_global_class(rt: Runtime):
    out = rt.run(
        "try { pm.expect(1).to.equal(2); } catch (e) {"
        " tests['isAssertionError'] = e instanceof AssertionError && e.name === 'AssertionError'"
        " && e instanceof Error; }"
    )
    assert results(out) == {"isAssertionError": (True, None)}


# ---- pm.response ---------------------------------------------------------------------------------------
def test_response_properties_headers_and_cookies(rt: Runtime):
    out = rt.run(
        """
        var r = pm.response;
        tests['code'] = r.code === 201 && r.status === 'Created' && r.reason() === 'Created';
        tests['timing'] = r.responseTime === 12.5 && r.responseSize === 123;
        tests['header get is case-insensitive'] = r.headers.get('x-request-id') === 'abc';
        tests['header has'] = r.headers.has('CONTENT-TYPE') && !r.headers.has('nope');
        tests['toObject'] = r.headers.toObject()['x-request-id'] === 'abc';
        var keys = []; r.headers.each(function (h) { keys.push(h.key); });
        tests['each'] = keys.join(',') === 'Content-Type,X-Request-Id,Set-Cookie,Set-Cookie';
        tests['all'] = r.headers.all().length === 4;
        tests['text'] = r.text().indexOf('widget') > 0;
        tests['json'] = r.json().owner.roles[0] === 'admin';
        tests['cookies'] = pm.cookies.get('session') === 's3cr3t' && pm.cookies.has('theme')
          && !pm.cookies.has('nope') && pm.cookies.toObject().theme === 'dark';
        """
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert len(out["tests"]) == 10


def test_response_json_error(rt: Runtime):
    response = dict(make_input()["response"], body="<html>")
    out = rt.run("try { pm.response.json(); } catch (e) { tests[e.name] = true; }", response=response)
    assert results(out) == {"JSONError": (True, None)}
    out = rt.run("pm.response.json();", response=dict(response, body=""))
    assert out["error"] == {"name": "JSONError", "message": "No data, empty input at 1:1"}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("pm.response.to.have.status(201)", None),
        ("pm.response.to.have.status('Created')", None),
        ("pm.response.to.have.status(200)", "expected response to have status code 200 but got 201"),
        ("pm.response.to.not.have.status(201)", "expected response to not have status code 201"),
        ("pm.response.to.have.header('x-request-id')", None),
        ("pm.response.to.have.header('X-Request-Id', 'abc')", None),
        ("pm.response.to.have.header('X-Missing')", "expected response to have header with key 'X-Missing'"),
        ("pm.response.to.not.have.header('X-Missing')", None),
        (
            "pm.response.to.have.header('X-Request-Id', 'zzz')",
            "expected response to have header 'X-Request-Id' with value 'zzz' but got 'abc'",
        ),
        ("pm.response.to.have.jsonBody()", None),
        ("pm.response.to.have.jsonBody('owner.id')", None),
        ("pm.response.to.have.jsonBody('owner.roles', ['admin'])", None),
        (
            "pm.response.to.have.jsonBody('owner.id', 2)",
            "expected { Object (id, name, ...) } to have deep nested property 'owner.id' of 2, but got 1",
        ),
        ("pm.response.to.not.have.jsonBody('nope')", None),
        ("pm.response.to.have.body()", None),
        (
            "pm.response.to.have.body('x')",
            "expected response body to equal 'x' but got '" + BODY + "'",
        ),
        ("pm.response.to.be.success", None),
        ("pm.response.to.be.ok", "expected response code to be 200 but found 201"),
        ("pm.response.to.not.be.clientError", None),
        ("pm.response.to.be.serverError", "expected response code to be 5XX but found 201"),
        ("pm.response.to.not.be.error", None),
        ("pm.response.to.be.json", None),
        ("pm.response.to.be.withBody", None),
    ],
)
def test_response_assertions(rt: Runtime, expression: str, message: str | None):
    assert check(rt, expression) == message


def test_response_json_schema(rt: Runtime):
    schema = "{type: 'object', required: ['id', 'missing'], properties: {id: {type: 'string'}}}"
    if "schema.js" in rt.loaded:
        message = check(rt, f"pm.response.to.have.jsonSchema({schema})")
        assert message.startswith("expected data to satisfy schema but found following errors: \n")
        assert check(rt, "pm.response.to.have.jsonSchema({type: 'object', required: ['id']})") is None
    else:
        out = rt.run(f"pm.test('t', function () {{ pm.response.to.have.jsonSchema({schema}); }});")
        assert out["unsupported"] == "pm.response.to.have.jsonSchema"


def test_no_response_in_prerequest(rt: Runtime):
    out = rt.run("tests['none'] = pm.response === undefined && typeof responseBody === 'undefined';",
                 event="prerequest", response=None)  # fmt: skip
    assert results(out) == {"none": (True, None)}


# ---- pm.request ----------------------------------------------------------------------------------------
def test_request_reads(rt: Runtime):
    out = rt.run(
        """
        var u = pm.request.url;
        tests['toString'] = u.toString() === 'http://api.test:8080/orders/7?x=1&y=two' && String(u) === u.toString();
        tests['host'] = u.getHost() === 'api.test' && u.port === '8080' && u.protocol === 'http';
        tests['path'] = u.getPath() === '/orders/7' && u.path.join('/') === 'orders/7';
        tests['query'] = u.getQueryString() === 'x=1&y=two' && u.query.get('y') === 'two' && u.query.has('x');
        tests['query toObject'] = JSON.stringify(u.query.toObject()) === '{"x":"1","y":"two"}';
        tests['method'] = pm.request.method === 'POST';
        tests['headers'] = pm.request.headers.get('content-type') === 'application/json';
        tests['body'] = pm.request.body.mode === 'raw' && pm.request.body.toString() === '{"qty": 1}';
        """
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert out["request"] is None  # reading is not changing


def test_request_changes_in_prerequest_are_returned(rt: Runtime):
    out = rt.run(
        """
        pm.request.url.query.add({key: 'z', value: '9'});
        pm.request.url.query.upsert({key: 'x', value: '2'});
        pm.request.url.query.remove('y');
        pm.request.headers.add({key: 'X-Added', value: 'yes'});
        pm.request.headers.upsert({key: 'x-trace', value: 't2'});
        pm.request.addHeader({key: 'Authorization', value: 'Bearer ' + pm.variables.get('shared')});
        pm.request.removeHeader('content-type');
        pm.request.method = 'PUT';
        pm.request.body.update(JSON.stringify({qty: 2}));
        """,
        event="prerequest",
    )
    assert out["error"] is None
    assert out["request"] == {
        "method": "PUT",
        "url": "http://api.test:8080/orders/7?x=2&z=9",
        "headers": [["X-Trace", "t2"], ["X-Added", "yes"], ["Authorization", "Bearer runtime"]],
        "body": {"mode": "raw", "raw": '{"qty":2}'},
    }


def test_request_url_replaced_and_bodies(rt: Runtime):
    out = rt.run("pm.request.url = 'https://other/x?a=b'; pm.request.addQueryParams('c=d');", event="prerequest")
    assert out["request"]["url"] == "https://other/x?a=b&c=d"
    out = rt.run("pm.request.url.update('{{base}}/v1'); pm.request.removeQueryParams(['x']);", event="prerequest")
    assert out["request"]["url"] == "{{base}}/v1"
    out = rt.run(
        "pm.request.body.update({mode: 'urlencoded', urlencoded: [{key: 'a', value: '1'}]});"
        "pm.request.body.urlencoded.add({key: 'b', value: '2'});",
        event="prerequest",
    )
    assert out["request"]["body"] == {"mode": "urlencoded", "urlencoded": [["a", "1"], ["b", "2"]]}
    form = {"mode": "formdata", "formdata": [["f", "v"]]}
    out = rt.run("tests['form'] = pm.request.body.formdata.get('f') === 'v';", request=dict(
        make_input()["request"], body=form))  # fmt: skip
    assert results(out) == {"form": (True, None)} and out["request"] is None
    # a test script's request changes are not sent anywhere
    assert rt.run("pm.request.method = 'DELETE';")["request"] is None


# ---- variables ---------------------------------------------------------------------------------------------
def test_variable_resolution_order(rt: Runtime):
    out = rt.run(
        """
        tests['variables: runtime first'] = pm.variables.get('shared') === 'runtime';
        tests['variables: later layers'] = pm.variables.get('stepOnly') === 's' && pm.variables.get('row') === 3;
        tests['environment'] = pm.environment.get('host') === 'api.test'
          && pm.environment.get('stepOnly') === undefined;
        tests['collection'] = pm.collectionVariables.get('scenarioOnly') === 'sc'
          && pm.collectionVariables.get('stepOnly') === 's';
        tests['globals'] = pm.globals.get('runOnly') === 'r' && pm.globals.get('host') === undefined;
        tests['iterationData'] = pm.iterationData.get('shared') === 'data' && pm.iterationData.get('row') === 3;
        tests['has'] = pm.variables.has('row') && !pm.variables.has('nope');
        """,
        variables=dict(make_input()["variables"]),
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert out["secretRead"] is False


def test_set_unset_clear_and_later_gets(rt: Runtime):
    out = rt.run(
        """
        pm.environment.set('token', 'abc');
        pm.collectionVariables.set('n', 5);
        pm.globals.set('obj', {a: [1]});
        pm.variables.set('u', undefined);
        pm.variables.set('inf', Infinity);
        postman.setEnvironmentVariable('legacy', 'L');
        postman.setGlobalVariable('g', 'G');
        tests['seen'] = pm.variables.get('token') === 'abc' && pm.collectionVariables.get('n') === 5
          && pm.environment.get('n') === undefined && pm.variables.get('n') === 5
          && postman.getEnvironmentVariable('legacy') === 'L' && postman.getGlobalVariable('g') === 'G';
        pm.environment.unset('shared');
        tests['unset hides runtime'] = pm.variables.get('shared') === 'step';
        postman.clearGlobalVariable('g');
        tests['cleared'] = pm.globals.get('g') === undefined;
        try { var c = {}; c.c = c; pm.environment.set('cyc', c); }
        catch (e) { tests[e.message] = e instanceof TypeError; }
        """
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert "value for 'cyc' is not JSON" in results(out)
    assert out["set"] == {"token": "abc", "n": 5, "obj": {"a": [1]}, "u": None, "inf": None, "legacy": "L"}
    assert out["unset"] == ["shared", "g"]
    assert out["setScopes"] == {
        "token": "environment", "n": "collection", "obj": "globals", "u": "local", "inf": "local",
        "legacy": "environment",
    }  # fmt: skip


def test_clear_unsets_every_name_of_the_scope(rt: Runtime):
    out = rt.run("pm.globals.clear();")
    assert sorted(out["unset"]) == ["runOnly", "shared"]


def test_replace_in_and_to_object(rt: Runtime):
    out = rt.run(
        """
        tests['replaceIn'] = pm.variables.replaceIn('{{host}}/{{row}}/{{unknown}}') === 'api.test/3/{{unknown}}';
        tests['scope replaceIn'] = pm.globals.replaceIn('{{runOnly}}-{{host}}') === 'r-{{host}}';
        tests['dynamic'] = /^[0-9a-f-]{36}$/.test(pm.variables.replaceIn('{{$guid}}'));
        var o = pm.collectionVariables.toObject();
        tests['toObject'] = o.shared === 'runtime' && o.stepOnly === 's' && o.scenarioOnly === 'sc' && !('host' in o);
        """
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert out["secretRead"] is False


@pytest.mark.parametrize(
    "source",
    [
        "pm.environment.get('password')",
        "pm.variables.get('password')",
        "pm.environment.toObject()",
        "pm.variables.replaceIn('{{password}}')",
        "postman.getEnvironmentVariable('password')",
        "environment.password",
    ],
)
def test_secret_read(rt: Runtime, source: str):
    assert rt.run(source)["secretRead"] is True


def test_secret_not_read_when_overridden_or_elsewhere(rt: Runtime):
    assert rt.run("pm.environment.get('host'); pm.globals.toObject();")["secretRead"] is False
    assert rt.run("pm.environment.set('password', 'x'); pm.environment.get('password');")["secretRead"] is False


# ---- info, next request, legacy globals ----------------------------------------------------------------------
def test_info_and_next_request(rt: Runtime):
    out = rt.run(
        """
        tests['info'] = pm.info.eventName === 'test' && pm.info.iteration === 2 && pm.info.iterationCount === 10
          && pm.info.requestName === 'create order' && pm.info.requestId === 'step:1';
        postman.setNextRequest('pay');
        pm.execution.setNextRequest('ship');
        """
    )
    assert results(out) == {"info": (True, None)}
    assert out["next"] == {"name": "ship"}
    assert rt.run("postman.setNextRequest(null);")["next"] == {"name": None}
    assert rt.run("1;")["next"] is None
    assert rt.run("tests['pre'] = pm.info.eventName === 'prerequest';", event="prerequest")["tests"][0]["passed"]


def test_legacy_globals(rt: Runtime):
    out = rt.run(
        """
        tests['responseBody'] = JSON.parse(responseBody).id === 7;
        tests['responseCode'] = responseCode.code === 201 && responseCode.name === 'Created';
        tests['responseTime'] = responseTime === 12.5;
        tests['responseHeaders'] = responseHeaders['X-Request-Id'] === 'abc';
        tests['getResponseHeader'] = postman.getResponseHeader('x-request-id') === 'abc';
        tests['globals'] = globals.runOnly === 'r';
        tests['data'] = data.row === 3 && iteration === 2;
        tests['request'] = request.method === 'POST' && request.url.indexOf('/orders/7') > 0
          && request.headers['X-Trace'] === 't1' && request.data === '{"qty": 1}';
        tests['flips'] = true;
        tests['flips'] = false;
        """
    )
    r = results(out)
    assert r.pop("flips") == (False, None)
    assert all(passed for passed, _ in r.values()), out["tests"]
    assert [t["name"] for t in out["tests"]][-1] == "flips"


def test_console_logs(rt: Runtime):
    out = rt.run(
        "console.log('a', 1, {b: [2]}, null); console.warn('w'); console.error(new Error('e'));"
        "for (var i = 0; i < 150; i++) console.info('x'.repeat(3000));"
    )
    assert out["logs"][:3] == ['a 1 {"b":[2]} null', "w", "Error: e"]
    assert len(out["logs"]) == 100 and len(out["logs"][-1]) == 2000


def test_require(rt: Runtime):
    out = rt.run(
        """
        var uuid = require('uuid');
        tests['uuid'] = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid.v4());
        tests['chai'] = require('chai').expect === pm.expect;
        if (typeof CryptoJS !== 'undefined') tests['crypto'] = require('crypto-js') === CryptoJS;
        if (typeof moment !== 'undefined') tests['moment'] = require('moment') === moment;
        """
    )
    assert all(passed for passed, _ in results(out).values()), out["tests"]


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("pm.sendRequest('http://x', function () {});", "pm.sendRequest"),
        ("pm.vault.get('k');", "pm.vault"),
        ("pm.visualizer.set('<b></b>');", "pm.visualizer"),
        ("pm.require('@team/lib');", "pm.require"),
        ("setTimeout(function () {}, 10);", "setTimeout"),
        ("setInterval(function () {}, 10);", "setInterval"),
        ("xml2Json('<a/>');", "xml2Json"),
        ("require('lodash');", "require('lodash')"),
        ("require('fs');", "require('fs')"),
        ("require('child_process');", "require('child_process')"),
        ("require('chai').assert.equal(1, 1);", "chai.assert"),
        ("pm.execution.skipRequest();", "pm.execution.skipRequest"),
        ("_.get({}, 'a');", "lodash"),
        ("cheerio.load('<a/>');", "cheerio"),
        ("pm.cookies.jar();", "pm.cookies.jar"),
        ("fetch('http://127.0.0.1:1/');", "fetch"),
    ],
)
def test_not_supported(rt: Runtime, source: str, name: str):
    out = rt.run(source)
    assert out["unsupported"] == name
    assert out["error"] == {"name": "Error", "message": f"not supported by Exile: {name}"}


def test_not_supported_caught_by_the_script_is_still_reported(rt: Runtime):
    out = rt.run("pm.test('a', function () { pm.sendRequest('x'); }); pm.test('b', function () {}); require('net');")
    assert out["unsupported"] == "pm.sendRequest"
    assert results(out) == {"a": (False, "Error: not supported by Exile: pm.sendRequest"), "b": (True, None)}


# ---- errors --------------------------------------------------------------------------------------------------
def test_uncaught_errors_keep_earlier_tests(rt: Runtime):
    out = rt.run("pm.test('first', function () {}); tests['legacy'] = 1; undefinedFunction();")
    assert results(out) == {"first": (True, None), "legacy": (True, None)}
    assert out["error"]["name"] == "TypeError"
    assert rt.run("throw 42;")["error"] == {"name": "Error", "message": "thrown value: 42"}
    assert rt.run("throw {code: 1};")["error"] == {"name": "Error", "message": 'thrown value: {"code":1}'}
    assert rt.run("throw new RangeError('r');")["error"] == {"name": "RangeError", "message": "r"}
    assert rt.run("return; tests['after'] = 1;")["tests"] == []


# ---- isolation -------------------------------------------------------------------------------------------------
def test_implicit_globals_work_and_do_not_leak(rt: Runtime):
    first = rt.run(
        """
        jsonData = pm.response.json();
        counter = (typeof counter === 'undefined' ? 0 : counter) + 1;
        this.viaThis = 1; globalThis.viaGlobal = 2; window.viaWindow = 3;
        pm.test('uses implicit global', function () { pm.expect(jsonData.id).to.equal(7); });
        tests['same scope'] = viaThis === 1 && viaGlobal === 2 && viaWindow === 3 && counter === 1;
        """
    )
    assert all(passed for passed, _ in results(first).values()), first["tests"]
    second = rt.run(
        """
        tests['no jsonData'] = typeof jsonData === 'undefined';
        tests['no counter'] = typeof counter === 'undefined';
        tests['no this/globalThis writes'] = typeof viaThis === 'undefined' && globalThis.viaGlobal === undefined
          && !('viaWindow' in window);
        """
    )
    assert all(passed for passed, _ in results(second).values()), second["tests"]


def test_same_script_twice_starts_fresh(rt: Runtime):
    rt.compile("seen = typeof seen === 'undefined' ? 'fresh' : 'stale'; tests[seen] = true;", "twice")
    assert results(rt.execute("twice")) == {"fresh": (True, None)}
    assert results(rt.execute("twice")) == {"fresh": (True, None)}


def test_prototype_pollution_does_not_reach_the_next_run(rt: Runtime):
    rt.run(
        """
        Object.prototype.polluted = 1;
        Array.prototype.push = function () { return 'hijacked'; };
        String.prototype.trim = function () { return 'hijacked'; };
        JSON.parse = function () { return 'hijacked'; };
        Math.random = function () { return 4; };
        pm.test = function () {};
        pm.expect.extra = 1;
        AssertionError.prototype.name = 'x';
        Object.getPrototypeOf(pm.response.headers).get = function () { return 'hijacked'; };
        Object.getPrototypeOf(pm.expect(1)).equal = function () { return this; };
        (function () { return this; })().leak = 1;
        Function('return this')().leak2 = 1;
        try { delete Object.prototype.toString; } catch (e) {}
        """
    )
    out = rt.run(
        """
        var a = []; a.push(1);
        pm.test('clean', function () {
          pm.expect(({}).polluted).to.equal(undefined);
          pm.expect(a).to.eql([1]);
          pm.expect(' x '.trim()).to.equal('x');
          pm.expect(JSON.parse('{"a":1}')).to.eql({a: 1});
          pm.expect(Math.random()).to.be.below(1);
          pm.expect(pm.expect.extra).to.equal(undefined);
          pm.expect(pm.response.headers.get('x-request-id')).to.equal('abc');
          pm.expect(Function('return this')().leak).to.equal(undefined);
          pm.expect(Function('return this')().leak2).to.equal(undefined);
          pm.expect(typeof Object.prototype.toString).to.equal('function');
        });
        pm.test('equal still checks', function () { pm.expect(1).to.equal(2); });
        """
    )
    assert results(out) == {"clean": (True, None), "equal still checks": (False, "expected 1 to equal 2")}


def test_strict_mode_pollution_is_a_type_error(rt: Runtime):
    out = rt.run("'use strict'; Object.prototype.x = 1;")
    assert out["error"]["name"] == "TypeError"


def test_entry_points_refuse_calls_from_scripts(rt: Runtime):
    rt.compile("tests['original'] = true;", "victim")
    out = rt.run(
        """
        var g = Function('return this')();
        try { g.__exile_compile('victim', "tests['hijacked'] = true"); } catch (e) { tests['refused compile'] = true; }
        try { g.__exile_execute('victim', '{}'); } catch (e) { tests['refused execute'] = true; }
        Promise.resolve().then(function () { g.__exile_compile('victim', "tests['hijacked'] = true"); });
        Promise.resolve(['victim', "tests['hijacked'] = true"]).then(function (a) { return a; })
          .then(Function.prototype.apply.bind(g.__exile_compile, null));
        tests['hidden from scope'] = typeof __exile_compile === 'undefined' && !('__exile_execute' in globalThis);
        """
    )
    assert results(out) == {"refused compile": (True, None), "refused execute": (True, None),
                            "hidden from scope": (True, None)}  # fmt: skip
    assert results(rt.execute("victim")) == {"original": (True, None)}


def test_output_is_always_json(rt: Runtime):
    out = rt.run("tests[Symbol.iterator ? 'ok' : 'x'] = {}; pm.environment.set('f', function () {});")
    assert out["set"] == {"f": None} and out["tests"][0]["passed"] is True
    out = rt.run("pm.environment.set('__proto__', 1); pm.environment.set('toString', 2);")
    assert out["set"] == {"__proto__": 1, "toString": 2}


def test_eval_of_a_stored_library_works_in_the_run_scope(rt: Runtime):
    variables = dict(make_input()["variables"], run={"lib": "helper = function (x) { return x * 2; };"})
    out = rt.run("eval(pm.globals.get('lib')); tests['helper'] = helper(21) === 42;", variables=variables)
    assert results(out) == {"helper": (True, None)}
    assert results(rt.run("tests['gone'] = typeof helper === 'undefined';")) == {"gone": (True, None)}


def test_regexp_statics_do_not_carry_a_match_into_the_next_run(rt: Runtime):
    rt.run("/token=(\\w+)/.test('token=s3cr3t');")
    out = rt.run("tests['clean'] = RegExp.$1 === '' && RegExp.lastMatch === '';")
    assert results(out) == {"clean": (True, None)}


def test_hostile_thrown_values_are_described(rt: Runtime):
    source = (
        "throw new Proxy({}, {get: function () { throw new Error('no'); }, getPrototypeOf: function () { throw 1; }});"
    )
    out = rt.run(source)
    assert out["error"] == {"name": "Error", "message": "thrown value: (unreadable)"}
    out = rt.run("pm.test('x', function () { throw Object.create(null); });")
    assert out["tests"][0]["passed"] is False and out["error"] is None


def test_reaching_for_the_host_finds_nothing(rt: Runtime):
    out = rt.run("eval('this.constructor.constructor(\"return process\")()').exit(1);")
    assert out["error"] == {"name": "ReferenceError", "message": "process is not defined"}


def test_library_state_does_not_carry_into_the_next_run(rt: Runtime):
    if "schema.js" not in rt.loaded:
        pytest.skip("schema.js not written yet")
    first = rt.run("tv4.addSchema('urn:kept', {title: 'secret'}); tests['bad'] = !tv4.validate(1, {type: 'string'});")
    assert results(first) == {"bad": (True, None)}
    out = rt.run("tests['clean'] = tv4.getSchema('urn:kept') === undefined && tv4.error === null;")
    assert results(out) == {"clean": (True, None)}


def test_libraries_work_after_the_lockdown(rt: Runtime):
    checks = {
        "crypto.js": "tests['hmac'] = CryptoJS.HmacSHA256('a', 'b').toString().length === 64"
        " && CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse('hi')) === 'aGk=' && btoa('hi') === 'aGk=';",
        "moment.js": "tests['moment'] = require('moment')('2020-01-02').add(1, 'days').format('YYYY-MM-DD')"
        " === '2020-01-03';",
        "schema.js": "tests['tv4'] = tv4.validate({a: 1}, {type: 'object'}) && !tv4.validate(1, {type: 'string'});",
    }
    source = "".join(code for name, code in checks.items() if name in rt.loaded)
    out = rt.run(source or "1;")
    assert out["error"] is None and all(passed for passed, _ in results(out).values()), out
