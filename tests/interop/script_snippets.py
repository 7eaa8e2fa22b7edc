"""Postman scripts as people write them, with what Postman (Newman 6) gives for each: the table behind
tests/interop/test_script_snippets.py.

Each `Snippet` is one request of one collection (in this order): its pre-request and test scripts, the local
endpoint it calls, and per `pm.test` (or legacy `tests[...]`) name the outcome Newman reports (`passed`,
`failed`, `skipped`); `error` names the error that ends a script outside any test (Newman's failure), `runs=False`
marks a request that `postman.setNextRequest` jumps over, and `unsupported` the name Exile refuses the script for
("not supported by Exile: <name>"). `collection()` builds the Postman v2.1 collection (base URL from the collection
variable `baseUrl`), `target()` the aiohttp app that answers it, `data_csv()` the one-row data file.

The expected outcomes are Newman's, checked by the Newman test in test_script_snippets.py: they are never edited
to match Exile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
DATA_ROW = {"userId": "2", "expectedName": "Grace Hopper", "qty": "3", "sku": "A-1"}
SECRET = "shh-123"  # the HMAC key of the signing snippets (a collection variable named so it is not a secret)
PAYMENT = '{"amount":100,"currency":"EUR"}'


@dataclass(frozen=True)
class Snippet:
    id: str
    endpoint: str  # "GET /users", "POST /echo?x=1": the path under {{baseUrl}}
    tests: dict[str, str] = field(default_factory=dict)  # test name -> passed / failed / skipped
    prerequest: str = ""
    test: str = ""
    body: str | None = None  # raw body (sent as application/json)
    headers: tuple[tuple[str, str], ...] = ()
    unsupported: str | None = None  # Exile: "not supported by Exile: <unsupported>"
    error: str | None = None  # the error name of an uncaught throw outside any test
    runs: bool = True  # False: a setNextRequest jumps over this request

    @property
    def method(self) -> str:
        return self.endpoint.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.endpoint.split(" ", 1)[1]


def _s(id: str, endpoint: str, tests: dict[str, str] | None = None, **kw: Any) -> Snippet:
    return Snippet(id, endpoint, tests or {}, **kw)


USER_SCHEMA = """{
    type: "object",
    required: ["id", "name", "email", "active"],
    properties: {
        id: { type: "integer" },
        name: { type: "string" },
        email: { type: "string" },
        active: { type: "boolean" },
        roles: { type: "array", items: { type: "string" } }
    }
}"""

SNIPPETS: list[Snippet] = [
    # ---- status, headers, body ---------------------------------------------------------------------------------
    _s(
        "status-200",
        "GET /users",
        {"Status code is 200": PASSED},
        test="""pm.test("Status code is 200", function () {
    pm.response.to.have.status(200);
});""",
    ),
    _s(
        "status-oneof-and-time",
        "GET /users",
        {"Successful GET request": PASSED, "Response time is less than 2000ms": PASSED},
        test="""pm.test("Successful GET request", function () {
    pm.expect(pm.response.code).to.be.oneOf([200, 201, 202]);
});
pm.test("Response time is less than 2000ms", function () {
    pm.expect(pm.response.responseTime).to.be.below(2000);
});""",
    ),
    _s(
        "status-404-expected-fail",
        "GET /users/99",
        {"user 99 exists": FAILED, "not found body": PASSED},
        test="""pm.test("user 99 exists", () => {
    pm.response.to.have.status(200);
});
pm.test("not found body", () => {
    const body = pm.response.json();
    pm.expect(body.error).to.eql("not found");
});""",
    ),
    _s(
        "status-created-post",
        "POST /users",
        {"user created": PASSED, "location header": PASSED, "name echoed back": PASSED},
        body='{"name": "Barbara Liskov", "email": "barbara@example.com"}',
        test="""pm.test("user created", function () {
    pm.response.to.have.status(201);
    pm.expect(pm.response.status).to.eql("Created");
});
pm.test("location header", function () {
    pm.expect(pm.response.headers.get("Location")).to.match(/^\\/users\\/\\d+$/);
});
var created = pm.response.json();
pm.test("name echoed back", function () {
    pm.expect(created.name).to.equal("Barbara Liskov");
});""",
    ),
    _s(
        "content-type-header",
        "GET /users",
        {"Content-Type is present": PASSED, "Content-Type is JSON": PASSED},
        test="""pm.test("Content-Type is present", function () {
    pm.response.to.have.header("Content-Type");
});
pm.test("Content-Type is JSON", function () {
    pm.expect(pm.response.headers.get("Content-Type")).to.include("application/json");
});""",
    ),
    _s(
        "response-to-be",
        "GET /users",
        {"response is ok, json, with a body": PASSED, "total via jsonBody": PASSED},
        test="""pm.test("response is ok, json, with a body", function () {
    pm.response.to.be.ok;
    pm.response.to.be.json;
    pm.response.to.be.withBody;
    pm.response.to.not.be.error;
});
pm.test("total via jsonBody", function () {
    pm.response.to.have.jsonBody("total", 3);
});""",
    ),
    _s(
        "body-string",
        "GET /users",
        {"Body matches string": PASSED, "Body does not mention Bob": PASSED},
        test="""pm.test("Body matches string", function () {
    pm.expect(pm.response.text()).to.include("Grace Hopper");
});
pm.test("Body does not mention Bob", function () {
    pm.expect(pm.response.text()).to.not.include("Bob");
});""",
    ),
    _s(
        "headers-api",
        "GET /users",
        {"request id": PASSED, "rate limit left": PASSED, "no server header leak": PASSED},
        test="""pm.test("request id", () => {
    pm.expect(pm.response.headers.get("X-Request-Id")).to.match(/^req-\\d+$/);
});
pm.test("rate limit left", () => {
    pm.expect(pm.response.headers.has("X-RateLimit-Remaining")).to.be.true;
    const left = parseInt(pm.response.headers.get("X-RateLimit-Remaining"), 10);
    pm.expect(left).to.be.above(0);
});
pm.test("no server header leak", () => {
    pm.expect(pm.response.headers.get("X-Powered-By")).to.be.undefined;
});""",
    ),
    _s(
        "cookies",
        "GET /users",
        {"session cookie set": PASSED, "theme cookie": PASSED, "no tracking cookie": PASSED},
        test="""pm.test("session cookie set", function () {
    pm.expect(pm.cookies.has("session_id")).to.be.true;
    pm.expect(pm.cookies.get("session_id")).to.eql("abc123");
});
pm.test("theme cookie", function () {
    pm.expect(pm.cookies.get("theme")).to.eql("dark");
});
pm.test("no tracking cookie", function () {
    pm.expect(pm.cookies.has("tracking")).to.be.false;
});""",
    ),
    # ---- loops over arrays ---------------------------------------------------------------------------------------
    _s(
        "loop-for-of",
        "GET /users",
        {"every user has an id and an example.com email": PASSED},
        test="""const users = pm.response.json().data;
pm.test("every user has an id and an example.com email", function () {
    for (const user of users) {
        pm.expect(user).to.have.property("id");
        pm.expect(user.email).to.match(/@example\\.com$/);
    }
});""",
    ),
    _s(
        "loop-foreach-dynamic-names",
        "GET /users",
        {"user 1 has a name": PASSED, "user 2 has a name": PASSED, "user 3 has a name": PASSED},
        test="""var jsonData = pm.response.json();
jsonData.data.forEach(function (user) {
    pm.test("user " + user.id + " has a name", function () {
        pm.expect(user.name).to.be.a("string").and.not.be.empty;
    });
});""",
    ),
    _s(
        "loop-for-index-count",
        "GET /users",
        {"two active users": PASSED, "ids ascending": PASSED},
        test="""var users = pm.response.json().data;
var active = 0;
for (var i = 0; i < users.length; i++) {
    if (users[i].active) {
        active++;
    }
}
pm.test("two active users", function () {
    pm.expect(active).to.equal(2);
});
pm.test("ids ascending", function () {
    for (var i = 1; i < users.length; i++) {
        pm.expect(users[i].id).to.be.above(users[i - 1].id);
    }
});""",
    ),
    _s(
        "loop-every-some-find",
        "GET /users",
        {"all ids are numbers": PASSED, "some user is inactive": PASSED, "the admin is Ada": PASSED},
        test="""const { data: list } = pm.response.json();
pm.test("all ids are numbers", () => {
    pm.expect(list.every(u => typeof u.id === "number")).to.be.true;
});
pm.test("some user is inactive", () => {
    pm.expect(list.some(u => !u.active)).to.be.true;
});
pm.test("the admin is Ada", () => {
    const admin = list.find(u => u.roles.includes("admin"));
    pm.expect(admin.name).to.eql("Ada Lovelace");
});""",
    ),
    _s(
        "loop-map-filter-reduce",
        "GET /orders/1001",
        {"order total matches its items": PASSED, "skus": PASSED, "no item over 10": FAILED},
        test="""const order = pm.response.json();
const sum = order.items.reduce((total, item) => total + item.qty * item.price, 0);
pm.test("order total matches its items", () => {
    pm.expect(sum).to.eql(order.total);
});
pm.test("skus", () => {
    pm.expect(order.items.map(i => i.sku)).to.eql(["A-1", "B-2"]);
});
pm.test("no item over 10", () => {
    pm.expect(order.items.filter(i => i.price > 10)).to.have.lengthOf(0);
});""",
    ),
    _s(
        "loop-expected-fail-in-loop",
        "GET /users",
        {"every user is active": FAILED, "every user has a role": FAILED},
        test="""const users = pm.response.json().data;
pm.test("every user is active", function () {
    users.forEach(function (u) {
        pm.expect(u.active, "user " + u.id).to.be.true;
    });
});
pm.test("every user has a role", function () {
    for (const u of users) {
        pm.expect(u.roles).to.not.be.empty;
    }
});""",
    ),
    _s(
        "loop-object-keys",
        "GET /orders/1001",
        {"no field is null": PASSED, "address fields are strings": PASSED},
        test="""const order = pm.response.json();
pm.test("no field is null", () => {
    Object.keys(order).forEach(key => {
        pm.expect(order[key], key).to.not.be.null;
    });
});
pm.test("address fields are strings", () => {
    for (const [key, value] of Object.entries(order.customer.address)) {
        pm.expect(value, key).to.be.a("string");
    }
});""",
    ),
    # ---- JSON schema -------------------------------------------------------------------------------------------
    _s(
        "tv4-validate",
        "GET /users/1",
        {"Schema is valid": PASSED},
        test=f"""var schema = {USER_SCHEMA};
var jsonData = pm.response.json();
pm.test("Schema is valid", function () {{
    pm.expect(tv4.validate(jsonData, schema)).to.be.true;
}});""",
    ),
    _s(
        "tv4-validate-fails",
        "GET /users/1",
        {"has a phone": FAILED, "tv4 names the missing property": PASSED},
        test="""var schema = { type: "object", required: ["phone"] };
var data = JSON.parse(responseBody);
var valid = tv4.validate(data, schema);
pm.test("has a phone", function () {
    pm.expect(valid).to.be.true;
});
pm.test("tv4 names the missing property", function () {
    pm.expect(tv4.error.message).to.include("phone");
});""",
    ),
    _s(
        "tv4-array-schema",
        "GET /users",
        {"list schema": PASSED, "validateResult": PASSED},
        test=f"""const listSchema = {{
    type: "object",
    required: ["data", "total"],
    properties: {{
        data: {{ type: "array", minItems: 1, items: {USER_SCHEMA} }},
        total: {{ type: "integer", minimum: 0 }}
    }}
}};
pm.test("list schema", () => {{
    pm.expect(tv4.validate(pm.response.json(), listSchema)).to.be.true;
}});
pm.test("validateResult", () => {{
    const result = tv4.validateResult(pm.response.json(), listSchema);
    pm.expect(result.valid).to.be.true;
}});""",
    ),
    _s(
        "jsonschema-pass",
        "GET /orders/1001",
        {"order schema": PASSED},
        test="""const schema = {
    type: "object",
    required: ["id", "status", "total", "items"],
    properties: {
        id: { type: "string", pattern: "^ord-\\\\d+$" },
        status: { type: "string", enum: ["NEW", "PAID", "SHIPPED"] },
        total: { type: "number", minimum: 0 },
        items: {
            type: "array",
            items: {
                type: "object",
                required: ["sku", "qty"],
                properties: { sku: { type: "string" }, qty: { type: "integer", minimum: 1 } }
            }
        }
    }
};
pm.test("order schema", () => {
    pm.response.to.have.jsonSchema(schema);
});""",
    ),
    _s(
        "jsonschema-fail",
        "GET /orders/1001",
        {"total is a string": FAILED, "status enum": FAILED},
        test="""pm.test("total is a string", function () {
    pm.response.to.have.jsonSchema({ type: "object", properties: { total: { type: "string" } } });
});
pm.test("status enum", function () {
    pm.response.to.have.jsonSchema({ properties: { status: { enum: ["NEW", "SHIPPED"] } } });
});""",
    ),
    # ---- crypto in pre-request scripts -------------------------------------------------------------------------
    _s(
        "hmac-sha256-header",
        "POST /echo",
        {"signature header sent": PASSED},
        body=PAYMENT,
        prerequest="""const secret = pm.collectionVariables.get("signingSecret");
const signature = CryptoJS.HmacSHA256(pm.request.body.raw, secret).toString(CryptoJS.enc.Hex);
pm.request.headers.add({ key: "X-Signature", value: signature });""",
        test="""pm.test("signature header sent", function () {
    const echo = pm.response.json();
    pm.expect(echo.headers["x-signature"]).to.eql("fdac398535840180f8f7e79bf05ac191ae2614798e3fb357bf17fdc2fb8e03a1");
});""",
    ),
    _s(
        "hmac-sha256-base64-variable",
        "POST /echo",
        {"base64 signature in the header": PASSED, "server recomputes it": PASSED},
        body=PAYMENT,
        headers=(("X-Signature", "{{signature}}"),),
        prerequest="""var hash = CryptoJS.HmacSHA256(pm.request.body.raw, pm.collectionVariables.get("signingSecret"));
var signature = CryptoJS.enc.Base64.stringify(hash);
pm.environment.set("signature", signature);""",
        test="""var echo = pm.response.json();
pm.test("base64 signature in the header", function () {
    pm.expect(echo.headers["x-signature"]).to.equal("/aw5hTWEAYD49+eb8FrBka4mFHmOP7NXvxf9wvuOA6E=");
});
pm.test("server recomputes it", function () {
    var secret = pm.collectionVariables.get("signingSecret");
    var again = CryptoJS.HmacSHA256(echo.body, secret).toString(CryptoJS.enc.Base64);
    pm.expect(echo.headers["x-signature"]).to.equal(again);
});""",
    ),
    _s(
        "hmac-timestamp-signature",
        "GET /echo?resource=orders",
        {"timestamp is recent": PASSED, "signature matches method, path and timestamp": PASSED},
        headers=(("X-Timestamp", "{{timestamp}}"), ("X-Signature", "{{signature}}")),
        prerequest="""const timestamp = Math.floor(Date.now() / 1000).toString();
const message = ["GET", "/echo", timestamp].join("\\n");
pm.variables.set("timestamp", timestamp);
pm.variables.set("signature", CryptoJS.HmacSHA256(message, "k").toString());""",
        test="""const echo = pm.response.json();
const ts = echo.headers["x-timestamp"];
pm.test("timestamp is recent", () => {
    pm.expect(Math.abs(Date.now() / 1000 - Number(ts))).to.be.below(60);
});
pm.test("signature matches method, path and timestamp", () => {
    const expected = CryptoJS.HmacSHA256("GET\\n/echo\\n" + ts, "k").toString();
    pm.expect(echo.headers["x-signature"]).to.eql(expected);
});""",
    ),
    _s(
        "hash-functions",
        "GET /echo",
        {"sha256": PASSED, "md5": PASSED, "hmac sha1": PASSED, "sha512": PASSED, "hmac sha512 prefix": PASSED},
        test="""pm.test("sha256", () => {
    pm.expect(CryptoJS.SHA256("hello").toString()).to.eql("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
});
pm.test("md5", () => {
    pm.expect(CryptoJS.MD5("exile").toString()).to.eql("5a21d6243dbf1429326d04b76d34653d");
});
pm.test("hmac sha1", () => {
    const mac = CryptoJS.HmacSHA1("message", "k").toString(CryptoJS.enc.Hex);
    pm.expect(mac).to.eql("2d795a5f313a0bb4e42011cbd2063b8a2610df75");
});
pm.test("sha512", () => {
    pm.expect(CryptoJS.SHA512("abc").toString()).to.have.lengthOf(128);
    pm.expect(CryptoJS.SHA512("abc").toString().slice(0, 16)).to.eql("ddaf35a193617aba");
});
pm.test("hmac sha512 prefix", () => {
    const mac = CryptoJS.HmacSHA512("message", "k").toString();
    pm.expect(mac.substring(0, 32)).to.eql("64906709a2715107346e6c90d94d00e7");
});""",
    ),
    _s(
        "require-crypto-js",
        "POST /echo",
        {"content hash header": PASSED},
        body=PAYMENT,
        prerequest="""var CryptoJS = require("crypto-js");
const digest = CryptoJS.SHA256(pm.request.body.raw).toString(CryptoJS.enc.Hex);
pm.request.headers.upsert({ key: "X-Content-SHA256", value: digest });""",
        test="""var CryptoJS = require("crypto-js");
pm.test("content hash header", () => {
    const echo = pm.response.json();
    pm.expect(echo.headers["x-content-sha256"]).to.eql(CryptoJS.SHA256(echo.body).toString());
});""",
    ),
    # ---- base64 ------------------------------------------------------------------------------------------------
    _s(
        "btoa-basic-auth",
        "GET /echo",
        {"basic auth header": PASSED, "atob decodes it": PASSED},
        prerequest="""const credentials = btoa("user:pa55");
pm.request.headers.upsert({ key: "Authorization", value: "Basic " + credentials });""",
        test="""const auth = pm.response.json().headers["authorization"];
pm.test("basic auth header", () => {
    pm.expect(auth).to.eql("Basic dXNlcjpwYTU1");
});
pm.test("atob decodes it", () => {
    pm.expect(atob(auth.split(" ")[1])).to.eql("user:pa55");
});""",
    ),
    _s(
        "cryptojs-base64-utf8",
        "GET /echo",
        {"encode utf-8": PASSED, "decode utf-8": PASSED, "words to hex": PASSED},
        test="""pm.test("encode utf-8", function () {
    var words = CryptoJS.enc.Utf8.parse("héllo wörld");
    pm.expect(CryptoJS.enc.Base64.stringify(words)).to.eql("aMOpbGxvIHfDtnJsZA==");
});
pm.test("decode utf-8", function () {
    var text = CryptoJS.enc.Base64.parse("aMOpbGxvIHfDtnJsZA==").toString(CryptoJS.enc.Utf8);
    pm.expect(text).to.eql("héllo wörld");
});
pm.test("words to hex", function () {
    pm.expect(CryptoJS.enc.Utf8.parse("AB").toString(CryptoJS.enc.Hex)).to.eql("4142");
    pm.expect(CryptoJS.enc.Hex.parse("4142").toString(CryptoJS.enc.Utf8)).to.eql("AB");
});""",
    ),
    _s(
        "jwt-decode",
        "POST /login",
        {"token is a JWT": PASSED, "JWT subject": PASSED, "JWT not expired": PASSED},
        body='{"username": "ada", "password": "x"}',
        test="""const token = pm.response.json().access_token;
pm.test("token is a JWT", () => {
    pm.expect(token.split(".")).to.have.lengthOf(3);
});
const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
pm.test("JWT subject", () => {
    pm.expect(payload.sub).to.eql("ada");
});
pm.test("JWT not expired", () => {
    pm.expect(payload.exp * 1000).to.be.above(Date.now());
});
pm.collectionVariables.set("accessToken", token);""",
    ),
    _s(
        "bearer-from-variable",
        "GET /echo",
        {"bearer token sent": PASSED},
        headers=(("Authorization", "Bearer {{accessToken}}"),),
        test="""pm.test("bearer token sent", function () {
    var auth = pm.response.json().headers.authorization;
    pm.expect(auth).to.eql("Bearer " + pm.collectionVariables.get("accessToken"));
    pm.expect(auth).to.match(/^Bearer [\\w-]+\\.[\\w-]+\\.[\\w-]*$/);
});""",
    ),
    # ---- moment ------------------------------------------------------------------------------------------------
    _s(
        "moment-today-query",
        "GET /echo?date={{today}}",
        {"date query is today": PASSED},
        prerequest="""const moment = require("moment");
pm.variables.set("today", moment().format("YYYY-MM-DD"));""",
        test="""const moment = require("moment");
pm.test("date query is today", () => {
    const sent = pm.response.json().query.date;
    pm.expect(sent).to.match(/^\\d{4}-\\d{2}-\\d{2}$/);
    pm.expect(sent).to.eql(moment().format("YYYY-MM-DD"));
});""",
    ),
    _s(
        "moment-fixed-formatting",
        "GET /orders/1001",
        {"created formatted": PASSED, "month after": PASSED, "weekday": PASSED, "created before now": PASSED},
        test="""var moment = require("moment");
var created = pm.response.json().created;
pm.test("created formatted", function () {
    pm.expect(moment.utc(created).format("DD/MM/YYYY HH:mm")).to.eql("15/01/2024 10:30");
});
pm.test("month after", function () {
    pm.expect(moment.utc(created).add(1, "months").format("YYYY-MM-DD")).to.eql("2024-02-15");
});
pm.test("weekday", function () {
    pm.expect(moment.utc(created).format("dddd, MMMM D YYYY")).to.eql("Monday, January 15 2024");
});
pm.test("created before now", function () {
    pm.expect(moment(created).isBefore(moment())).to.be.true;
});""",
    ),
    _s(
        "moment-arithmetic",
        "POST /echo",
        {"due date a week ahead": PASSED, "diff in hours": PASSED, "unix seconds": PASSED},
        body='{"due": "{{dueDate}}"}',
        prerequest="""const moment = require("moment");
pm.collectionVariables.set("dueDate", moment().add(7, "days").toISOString());""",
        test="""const moment = require("moment");
const due = pm.response.json().json.due;
pm.test("due date a week ahead", () => {
    const days = moment(due).diff(moment(), "days");
    pm.expect(days).to.be.within(6, 7);
});
pm.test("diff in hours", () => {
    pm.expect(moment.utc("2024-01-02T00:00:00Z").diff(moment.utc("2024-01-01T12:00:00Z"), "hours")).to.eql(12);
});
pm.test("unix seconds", () => {
    pm.expect(Math.abs(moment().unix() - Math.floor(Date.now() / 1000))).to.be.at.most(1);
});""",
    ),
    _s(
        "moment-subtract-startof",
        "GET /echo?from={{from}}&to={{to}}",
        {"range is yesterday to today": PASSED, "start of day": PASSED},
        prerequest="""var moment = require('moment');
pm.variables.set('from', moment().subtract(1, 'day').format('YYYY-MM-DD'));
pm.variables.set('to', moment().format('YYYY-MM-DD'));""",
        test="""var moment = require('moment');
var q = pm.response.json().query;
pm.test('range is yesterday to today', function () {
    pm.expect(moment(q.to).diff(moment(q.from), 'days')).to.eql(1);
});
pm.test('start of day', function () {
    pm.expect(moment.utc('2024-03-10T17:45:12Z').startOf('day').toISOString()).to.eql('2024-03-10T00:00:00.000Z');
});""",
    ),
    # ---- setNextRequest ----------------------------------------------------------------------------------------
    _s(
        "next-request-branch",
        "GET /users/1",
        {"user found, skipping the fallback": PASSED},
        test="""if (pm.response.code === 200) {
    pm.test("user found, skipping the fallback", () => pm.expect(pm.response.json().id).to.eql(1));
    postman.setNextRequest("next-request-target");
} else {
    postman.setNextRequest("next-request-fallback");
}""",
    ),
    _s(
        "next-request-fallback",
        "GET /users/1",
        {"the fallback never runs": FAILED},
        runs=False,
        test="""pm.test("the fallback never runs", function () {
    pm.expect.fail("setNextRequest should have skipped this request");
});""",
    ),
    _s(
        "next-request-target",
        "GET /users/1",
        {"the branch target runs": PASSED},
        test="""pm.test("the branch target runs", function () {
    pm.expect(pm.info.requestName).to.eql("next-request-target");
});""",
    ),
    _s(
        "next-request-poll-loop",
        "GET /jobs/7",
        {"poll 1": PASSED, "poll 2": PASSED, "poll 3": PASSED},
        test="""let polls = Number(pm.collectionVariables.get("polls") || 0) + 1;
pm.collectionVariables.set("polls", polls);
pm.test("poll " + polls, function () {
    pm.expect(pm.response.json().state).to.be.oneOf(["queued", "running", "done"]);
});
if (polls < 3) {
    postman.setNextRequest("next-request-poll-loop");
}""",
    ),
    _s(
        "execution-set-next-request",
        "GET /users/1",
        {"pm.execution.setNextRequest": PASSED},
        test="""pm.test("pm.execution.setNextRequest", function () {
    pm.response.to.have.status(200);
});
pm.execution.setNextRequest("after-the-skipped");""",
    ),
    _s(
        "skipped-by-execution",
        "GET /users/1",
        {"skipped by pm.execution": FAILED},
        runs=False,
        test="""pm.test("skipped by pm.execution", function () {
    pm.expect(true).to.be.false;
});""",
    ),
    _s(
        "after-the-skipped",
        "GET /users/1",
        {"runs after the jump": PASSED},
        test="""pm.test("runs after the jump", function () {
    pm.expect(pm.response.json().name).to.eql("Ada Lovelace");
});""",
    ),
    # ---- variables ---------------------------------------------------------------------------------------------
    _s(
        "variables-query",
        "GET /echo?q={{searchTerm}}&limit={{limit}}",
        {"search term sent": PASSED, "limit sent": PASSED},
        prerequest="""pm.variables.set("searchTerm", "ada");
pm.variables.set("limit", 10);""",
        test="""var query = pm.response.json().query;
pm.test("search term sent", function () {
    pm.expect(query.q).to.eql(pm.variables.get("searchTerm"));
});
pm.test("limit sent", function () {
    pm.expect(Number(query.limit)).to.eql(pm.variables.get("limit"));
});""",
    ),
    _s(
        "environment-get-set-unset",
        "GET /users/1",
        {"environment set and get": PASSED, "environment unset": PASSED, "has": PASSED},
        test="""const user = pm.response.json();
pm.environment.set("userName", user.name);
pm.test("environment set and get", () => {
    pm.expect(pm.environment.get("userName")).to.eql("Ada Lovelace");
});
pm.environment.set("scratch", "temp");
pm.environment.unset("scratch");
pm.test("environment unset", () => {
    pm.expect(pm.environment.get("scratch")).to.be.undefined;
});
pm.test("has", () => {
    pm.expect(pm.environment.has("userName")).to.be.true;
    pm.expect(pm.environment.has("scratch")).to.be.false;
});""",
    ),
    _s(
        "environment-used-later",
        "GET /echo?name={{userName}}",
        {"name from the previous request": PASSED},
        test="""pm.test("name from the previous request", function () {
    pm.expect(pm.response.json().query.name).to.eql("Ada Lovelace");
});""",
    ),
    _s(
        "collection-variables",
        "GET /users",
        {"baseUrl is the local target": PASSED, "collection variable set for later": PASSED},
        test="""pm.test("baseUrl is the local target", function () {
    pm.expect(pm.collectionVariables.get("baseUrl")).to.match(/^http:\\/\\/127\\.0\\.0\\.1:\\d+$/);
});
pm.collectionVariables.set("firstUserId", pm.response.json().data[0].id);
pm.test("collection variable set for later", function () {
    pm.expect(pm.collectionVariables.get("firstUserId")).to.eql(1);
});""",
    ),
    _s(
        "globals-chain",
        "GET /users/{{firstUserId}}",
        {"user from the collection variable": PASSED, "global set and read": PASSED, "global unset": PASSED},
        test="""pm.test("user from the collection variable", () => {
    pm.expect(pm.response.json().id).to.eql(1);
});
pm.globals.set("lastEmail", pm.response.json().email);
pm.test("global set and read", () => {
    pm.expect(pm.globals.get("lastEmail")).to.eql("ada@example.com");
});
pm.globals.unset("lastEmail");
pm.test("global unset", () => {
    pm.expect(pm.globals.get("lastEmail")).to.be.undefined;
});""",
    ),
    _s(
        "replace-in",
        "GET /users",
        {"replaceIn": PASSED, "unknown names stay": PASSED},
        test="""pm.variables.set("who", "Ada");
pm.test("replaceIn", function () {
    pm.expect(pm.variables.replaceIn("Hello {{who}} of {{firstUserId}}")).to.eql("Hello Ada of 1");
});
pm.test("unknown names stay", function () {
    pm.expect(pm.variables.replaceIn("{{nobodySetThis}}")).to.eql("{{nobodySetThis}}");
});""",
    ),
    _s(
        "variables-precedence",
        "GET /users",
        {"local beats collection": PASSED, "collection scope keeps its value": PASSED},
        test="""pm.variables.set("greeting", "hello");
pm.test("local beats collection", () => {
    pm.expect(pm.variables.get("greeting")).to.eql("hello");
});
pm.test("collection scope keeps its value", () => {
    pm.expect(pm.collectionVariables.get("greeting")).to.eql("hi");
});""",
    ),
    _s(
        "iteration-data",
        "GET /users/{{userId}}",
        {"user from the data file": PASSED, "numbers in the data file are numbers": PASSED, "iteration info": PASSED},
        test="""pm.test("user from the data file", function () {
    pm.expect(pm.response.json().name).to.eql(pm.iterationData.get("expectedName"));
});
pm.test("numbers in the data file are numbers", function () {
    pm.expect(pm.iterationData.get("qty")).to.equal(3);
    pm.expect(pm.iterationData.has("sku")).to.be.true;
    pm.expect(pm.iterationData.toObject()).to.have.property("userId", 2);
});
pm.test("iteration info", function () {
    pm.expect(pm.info.iteration).to.eql(0);
    pm.expect(pm.info.eventName).to.eql("test");
});""",
    ),
    _s(
        "data-in-body",
        "POST /echo",
        {"body rendered from data": PASSED},
        body='{"sku": "{{sku}}", "qty": {{qty}}}',
        prerequest="""const body = JSON.parse(pm.variables.replaceIn(pm.request.body.raw));
pm.variables.set("orderTotal", body.qty * 5);""",
        test="""pm.test("body rendered from data", () => {
    const sent = pm.response.json().json;
    pm.expect(sent).to.eql({ sku: "A-1", qty: 3 });
    pm.expect(pm.variables.get("orderTotal")).to.eql(15);
});""",
    ),
    _s(
        "pre-request-changes-body",
        "POST /echo",
        {"the body the script wrote was sent": PASSED},
        body='{"placeholder": true}',
        prerequest="""const payload = { requestId: "r-" + 42, items: [1, 2, 3] };
pm.request.body.update(JSON.stringify(payload));""",
        test="""pm.test("the body the script wrote was sent", () => {
    pm.expect(pm.response.json().json).to.deep.equal({ requestId: "r-42", items: [1, 2, 3] });
});""",
    ),
    _s(
        "pre-request-header-remove",
        "GET /echo",
        {"header removed, other added": PASSED},
        headers=(("X-Debug", "1"),),
        prerequest="""pm.request.headers.remove("X-Debug");
pm.request.headers.add({ key: "X-Client", value: "exile-snippets" });""",
        test="""pm.test("header removed, other added", () => {
    const headers = pm.response.json().headers;
    pm.expect(headers).to.not.have.property("x-debug");
    pm.expect(headers["x-client"]).to.eql("exile-snippets");
});""",
    ),
    # ---- legacy sandbox ----------------------------------------------------------------------------------------
    _s(
        "legacy-tests-status",
        "GET /users",
        {"Status code is 200": PASSED, "Body contains Ada": PASSED},
        test="""tests["Status code is 200"] = responseCode.code === 200;
tests["Body contains Ada"] = responseBody.has("Ada");""",
    ),
    _s(
        "legacy-json-parse",
        "GET /users",
        {"Has 3 users": PASSED, "First is Ada": PASSED, "Response time under 2s": PASSED},
        test="""var data = JSON.parse(responseBody);
tests["Has 3 users"] = data.data.length === 3;
tests["First is Ada"] = data.data[0].name === "Ada Lovelace";
tests["Response time under 2s"] = responseTime < 2000;""",
    ),
    _s(
        "legacy-expected-fail",
        "GET /users",
        {"Status code is 201": FAILED, "Last value wins": PASSED},
        test="""tests["Status code is 201"] = responseCode.code === 201;
tests["Last value wins"] = false;
tests["Last value wins"] = true;""",
    ),
    _s(
        "legacy-headers-and-env",
        "GET /users",
        {"Content-Type header": PASSED, "environment variable round trip": PASSED},
        test="""var contentType = postman.getResponseHeader("Content-Type");
tests["Content-Type header"] = contentType.indexOf("application/json") === 0;
postman.setEnvironmentVariable("legacyTotal", JSON.parse(responseBody).total);
tests["environment variable round trip"] = postman.getEnvironmentVariable("legacyTotal") == 3;""",
    ),
    _s(
        "legacy-globals-objects",
        "GET /users/{{userId}}",
        {"data object": PASSED, "iteration number": PASSED, "responseCode name": PASSED},
        test="""tests["data object"] = data.userId === 2 && data.sku === "A-1";
tests["iteration number"] = iteration === 0;
tests["responseCode name"] = responseCode.name === "OK";""",
    ),
    # ---- chai chains -------------------------------------------------------------------------------------------
    _s(
        "chai-equality",
        "GET /users/1",
        {"eql": PASSED, "deep.equal": PASSED, "equal is strict": FAILED},
        test="""const user = pm.response.json();
pm.test("eql", () => {
    pm.expect(user.roles).to.eql(["admin", "dev"]);
});
pm.test("deep.equal", () => {
    pm.expect({ id: user.id, active: user.active }).to.deep.equal({ id: 1, active: true });
});
pm.test("equal is strict", () => {
    pm.expect(user.roles).to.equal(["admin", "dev"]);
});""",
    ),
    _s(
        "chai-include-property",
        "GET /users/1",
        {"include": PASSED, "have.property": PASSED, "nested include fails": FAILED},
        test="""const user = pm.response.json();
pm.test("include", () => {
    pm.expect(user.roles).to.include("admin");
    pm.expect(user.email).to.include("@");
    pm.expect(user).to.include({ name: "Ada Lovelace" });
});
pm.test("have.property", () => {
    pm.expect(user).to.have.property("age");
    pm.expect(user).to.have.property("name", "Ada Lovelace");
    pm.expect(user).to.not.have.property("password");
});
pm.test("nested include fails", () => {
    pm.expect(user.roles).to.include("root");
});""",
    ),
    _s(
        "chai-length-and-numbers",
        "GET /users",
        {"lengthOf": PASSED, "above and below": PASSED, "within and least": PASSED, "too few users": FAILED},
        test="""const body = pm.response.json();
pm.test("lengthOf", () => {
    pm.expect(body.data).to.have.lengthOf(3);
    pm.expect("abc").to.have.lengthOf(3);
});
pm.test("above and below", () => {
    pm.expect(body.total).to.be.above(2);
    pm.expect(body.total).to.be.below(4);
    pm.expect(body.data[0].age).to.be.greaterThan(18);
});
pm.test("within and least", () => {
    pm.expect(body.page).to.be.within(1, 10);
    pm.expect(body.per_page).to.be.at.least(10);
    pm.expect(body.total).to.be.at.most(3);
});
pm.test("too few users", () => {
    pm.expect(body.data).to.have.lengthOf.above(5);
});""",
    ),
    _s(
        "chai-oneof-match-types",
        "GET /users/1",
        {"oneOf": PASSED, "match": PASSED, "a/an": PASSED, "wrong type": FAILED},
        test="""const user = pm.response.json();
pm.test("oneOf", () => {
    pm.expect(user.roles[0]).to.be.oneOf(["admin", "owner"]);
});
pm.test("match", () => {
    pm.expect(user.email).to.match(/^[a-z]+@example\\.com$/);
    pm.expect(user.name).to.not.match(/\\d/);
});
pm.test("a/an", () => {
    pm.expect(user).to.be.an("object");
    pm.expect(user.roles).to.be.an("array");
    pm.expect(user.id).to.be.a("number");
    pm.expect(user.active).to.be.a("boolean");
    pm.expect(user.deletedAt).to.be.a("null");
});
pm.test("wrong type", () => {
    pm.expect(user.id).to.be.a("string");
});""",
    ),
    _s(
        "chai-empty-exist-not",
        "GET /users/3",
        {"empty": PASSED, "exist": PASSED, "not chains": PASSED, "roles not empty": FAILED},
        test="""const user = pm.response.json();
pm.test("empty", function () {
    pm.expect(user.roles).to.be.empty;
    pm.expect("").to.be.empty;
    pm.expect({}).to.be.empty;
});
pm.test("exist", function () {
    pm.expect(user.deletedAt).to.exist;
    pm.expect(user.nickname).to.not.exist;
    pm.expect(null).to.not.exist;
});
pm.test("not chains", function () {
    pm.expect(user.active).to.not.be.true;
    pm.expect(user.name).to.not.equal("Bob");
    pm.expect(user.name).to.not.be.empty;
    pm.expect(user.id).to.not.be.oneOf([1, 2]);
});
pm.test("roles not empty", function () {
    pm.expect(user.roles).to.not.be.empty;
});""",
    ),
    _s(
        "chai-keys-and-booleans",
        "GET /users/1",
        {"keys": PASSED, "booleans and ok": PASSED, "custom message fails": FAILED},
        test="""const user = pm.response.json();
pm.test("keys", () => {
    pm.expect(user).to.have.all.keys("id", "name", "email", "active", "roles", "age", "deletedAt");
    pm.expect(user).to.have.any.keys("id", "nope");
});
pm.test("booleans and ok", () => {
    pm.expect(user.active).to.be.true;
    pm.expect(user.active).to.be.ok;
    pm.expect(0).to.not.be.ok;
    pm.expect(user.missing).to.be.undefined;
});
pm.test("custom message fails", () => {
    pm.expect(user.age, "age of the user").to.equal(37);
});""",
    ),
    # ---- JSON.parse, try/catch, failures -----------------------------------------------------------------------
    _s(
        "json-parse-try-catch",
        "GET /text",
        {"body is not JSON": PASSED, "body is the greeting": PASSED},
        test="""var parsed = null;
try {
    parsed = JSON.parse(responseBody);
} catch (e) {
    console.log("not JSON: " + e.message);
}
pm.test("body is not JSON", function () {
    pm.expect(parsed).to.be.null;
});
pm.test("body is the greeting", function () {
    pm.expect(pm.response.text()).to.eql("hello world");
});""",
    ),
    _s(
        "response-json-try-catch",
        "GET /text",
        {"pm.response.json() throws on text": PASSED},
        test="""pm.test("pm.response.json() throws on text", function () {
    let threw = false;
    try {
        pm.response.json();
    } catch (err) {
        threw = true;
    }
    pm.expect(threw).to.be.true;
});""",
    ),
    _s(
        "failures-inside-tests",
        "GET /users/1",
        {"throws an Error": FAILED, "expect.fail": FAILED, "TypeError in a test": FAILED, "still runs after": PASSED},
        test="""pm.test("throws an Error", function () {
    throw new Error("boom");
});
pm.test("expect.fail", function () {
    pm.expect.fail("not implemented on the server");
});
pm.test("TypeError in a test", function () {
    const body = pm.response.json();
    pm.expect(body.address.city).to.eql("London");
});
pm.test("still runs after", function () {
    pm.expect(1 + 1).to.eql(2);
});""",
    ),
    _s(
        "uncaught-error",
        "GET /text",
        {"before the error": PASSED},
        error="JSONError",
        test="""pm.test("before the error", function () {
    pm.response.to.have.status(200);
});
var body = JSON.parse(responseBody);
pm.test("never reached", function () {
    pm.expect(body).to.be.ok;
});""",
    ),
    _s(
        "test-skip",
        "GET /users",
        {"not ready yet": SKIPPED, "ready": PASSED},
        test="""pm.test.skip("not ready yet", function () {
    pm.expect(1).to.eql(2);
});
pm.test("ready", function () {
    pm.expect(pm.response.code).to.eql(200);
});""",
    ),
    _s(
        "info-and-request",
        "GET /echo?page=2",
        {"request name": PASSED, "request url and method": PASSED, "request header": PASSED},
        headers=(("Accept", "application/json"),),
        test="""pm.test("request name", () => {
    pm.expect(pm.info.requestName).to.eql("info-and-request");
});
pm.test("request url and method", () => {
    pm.expect(pm.request.method).to.eql("GET");
    pm.expect(pm.request.url.toString()).to.include("/echo?page=2");
});
pm.test("request header", () => {
    pm.expect(pm.request.headers.get("Accept")).to.eql("application/json");
});""",
    ),
    _s(
        "dynamic-variables",
        "GET /echo?id={{$guid}}",
        {"guid sent": PASSED, "replaceIn random": PASSED},
        headers=(("X-Timestamp", "{{$timestamp}}"),),
        test="""const echo = pm.response.json();
pm.test("guid sent", () => {
    pm.expect(echo.query.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    pm.expect(Number(echo.headers["x-timestamp"])).to.be.above(1700000000);
});
pm.test("replaceIn random", () => {
    pm.expect(Number(pm.variables.replaceIn("{{$randomInt}}"))).to.be.within(0, 1000);
});""",
    ),
    _s(
        "console-and-json-stringify",
        "GET /users/2",
        {"stringified user": PASSED},
        test="""const user = pm.response.json();
console.log("user", user);
console.info(JSON.stringify(user, null, 2));
pm.test("stringified user", () => {
    pm.expect(JSON.stringify({ id: user.id, name: user.name })).to.eql('{"id":2,"name":"Grace Hopper"}');
});""",
    ),
    # ---- what Exile does not support ---------------------------------------------------------------------------
    _s(
        "send-request",
        "GET /users",
        unsupported="pm.sendRequest",
        test="""pm.sendRequest(pm.collectionVariables.get("baseUrl") + "/users/1", function (err, res) {
    pm.test("side request ok", function () {
        pm.expect(err).to.be.null;
        pm.expect(res.code).to.eql(200);
    });
});""",
    ),
    _s(
        "send-request-token",
        "GET /echo",
        unsupported="pm.sendRequest",
        prerequest="""pm.sendRequest({
    url: pm.collectionVariables.get("baseUrl") + "/login",
    method: "POST",
    header: { "Content-Type": "application/json" },
    body: { mode: "raw", raw: JSON.stringify({ username: "ada", password: "x" }) }
}, function (err, res) {
    pm.collectionVariables.set("sideToken", res.json().access_token);
});""",
    ),
    _s(
        "require-lodash",
        "GET /orders/1001",
        tests={"quantities add up": PASSED},
        test="""var _ = require("lodash");
pm.test("quantities add up", () => {
    pm.expect(_.sumBy(pm.response.json().items, "qty")).to.eql(3);
});""",
    ),
    _s(
        "lodash-global-get",
        "GET /orders/1001",
        tests={"city via _.get": PASSED},
        test="""pm.test("city via _.get", function () {
    pm.expect(_.get(pm.response.json(), "customer.address.city")).to.eql("London");
});""",
    ),
    _s(
        "lodash-template",
        "GET /orders/1001",
        unsupported="_.template",
        test="""const greet = _.template("Hello <%= user %>!");
pm.test("a template", () => pm.expect(greet({user: "amy"})).to.eql("Hello amy!"));""",
    ),
    _s(
        "require-ajv",
        "GET /orders/1001",
        unsupported="require('ajv')",
        test="""const Ajv = require("ajv");
const ajv = new Ajv();
pm.test("schema", () => pm.expect(ajv.validate({type: "object"}, pm.response.json())).to.be.true);""",
    ),
    _s(
        "xml2json",
        "GET /xml",
        unsupported="xml2Json",
        test="""var jsonObject = xml2Json(responseBody);
pm.test("order id from XML", function () {
    pm.expect(jsonObject.order.id).to.eql("1001");
});""",
    ),
    _s(
        "visualizer",
        "GET /users",
        unsupported="pm.visualizer",
        test="""var template = `<table>{{#each data}}<tr><td>{{name}}</td></tr>{{/each}}</table>`;
pm.visualizer.set(template, { data: pm.response.json().data });""",
    ),
    _s(
        "require-cheerio",
        "GET /html",
        unsupported="require('cheerio')",
        test="""var cheerio = require("cheerio");
const $ = cheerio.load(pm.response.text());
pm.test("title", () => {
    pm.expect($("title").text()).to.eql("Exile");
});""",
    ),
    _s(
        "set-timeout",
        "GET /users",
        unsupported="setTimeout",
        prerequest="""setTimeout(function () {
    console.log("waited a bit before sending");
}, 50);""",
    ),
    _s(
        "vault",
        "GET /echo",
        unsupported="pm.vault",
        prerequest="""pm.vault.get("apiKey").then(function (apiKey) {
    pm.request.headers.add({ key: "X-Api-Key", value: apiKey });
});""",
    ),
]


# ---- the collection ----------------------------------------------------------------------------------------------
def _exec(source: str) -> list[str]:
    return source.split("\n")


def _url(path: str) -> dict[str, Any]:
    raw = "{{baseUrl}}" + path
    base, _, query = path.partition("?")
    url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": [p for p in base.split("/") if p]}
    if query:
        url["query"] = [dict(zip(("key", "value"), pair.split("=", 1), strict=True)) for pair in query.split("&")]
    return url


def item(snippet: Snippet) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": snippet.method,
        "header": [{"key": key, "value": value} for key, value in snippet.headers],
        "url": _url(snippet.path),
    }
    if snippet.body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": snippet.body, "options": {"raw": {"language": "json"}}}
    events = []
    for listen, source in (("prerequest", snippet.prerequest), ("test", snippet.test)):
        if source:
            events.append({"listen": listen, "script": {"type": "text/javascript", "exec": _exec(source)}})
    return {"name": snippet.id, "event": events, "request": request}


def collection(base_url: str, snippets: list[Snippet] | None = None) -> dict[str, Any]:
    """The Postman v2.1 collection: one request per snippet, in the table's order."""
    return {
        "info": {
            "name": "script snippets",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "variable": [
            {"key": "baseUrl", "value": base_url},
            {"key": "signingSecret", "value": SECRET},
            {"key": "greeting", "value": "hi"},
        ],
        "item": [item(snippet) for snippet in (SNIPPETS if snippets is None else snippets)],
    }


def write_collection(path: Path, base_url: str, snippets: list[Snippet] | None = None) -> Path:
    path.write_text(json.dumps(collection(base_url, snippets), indent=1))
    return path


def data_csv(path: Path) -> Path:
    path.write_text(",".join(DATA_ROW) + "\n" + ",".join(DATA_ROW.values()) + "\n")
    return path


# ---- the target --------------------------------------------------------------------------------------------------
USERS = [
    {
        "id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "active": True, "roles": ["admin", "dev"],
        "age": 36, "deletedAt": None,
    },
    {
        "id": 2, "name": "Grace Hopper", "email": "grace@example.com", "active": True, "roles": ["dev"],
        "age": 85, "deletedAt": None,
    },
    {
        "id": 3, "name": "Alan Turing", "email": "alan@example.com", "active": False, "roles": [],
        "age": 41, "deletedAt": "2020-05-01T00:00:00Z",
    },
]  # fmt: skip
ORDER = {
    "id": "ord-1001",
    "status": "PAID",
    "total": 19.5,
    "currency": "EUR",
    "created": "2024-01-15T10:30:00Z",
    "items": [{"sku": "A-1", "qty": 2, "price": 4.5}, {"sku": "B-2", "qty": 1, "price": 10.5}],
    "customer": {"id": 1, "address": {"city": "London", "zip": "N1 9GU"}},
}
# header.payload.signature with {"sub": "ada", "exp": 4102444800} (2100-01-01) as the payload, base64url
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZGEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"


def target() -> web.Application:
    """What the snippets call: users, an order, a job to poll, text/XML/HTML bodies and an echo of the request."""

    async def users(request: web.Request) -> web.Response:
        response = web.json_response(
            {"data": USERS, "total": len(USERS), "page": 1, "per_page": 10},
            headers={"X-Request-Id": "req-12345", "X-RateLimit-Remaining": "99", "Cache-Control": "no-cache"},
        )
        response.set_cookie("session_id", "abc123", path="/")
        response.set_cookie("theme", "dark", path="/")
        return response

    async def user(request: web.Request) -> web.Response:
        wanted = request.match_info["id"]
        for found in USERS:
            if str(found["id"]) == wanted:
                return web.json_response(found)
        return web.json_response({"error": "not found"}, status=404)

    async def create_user(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"id": 4, **body}, status=201, headers={"Location": "/users/4"})

    async def order(request: web.Request) -> web.Response:
        return web.json_response(ORDER)

    async def job(request: web.Request) -> web.Response:
        return web.json_response({"id": int(request.match_info["id"]), "state": "running"})

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"access_token": JWT, "token_type": "Bearer", "expires_in": 3600})

    async def echo(request: web.Request) -> web.Response:
        text = await request.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": {name.lower(): value for name, value in request.headers.items()},
                "body": text,
                "json": parsed,
                "cookies": dict(request.cookies),
            }
        )

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="hello world", content_type="text/plain")

    async def xml(request: web.Request) -> web.Response:
        return web.Response(text="<order><id>1001</id><status>PAID</status></order>", content_type="application/xml")

    async def html(request: web.Request) -> web.Response:
        return web.Response(
            text="<html><head><title>Exile</title></head><body></body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/users", users)
    app.router.add_post("/users", create_user)
    app.router.add_get("/users/{id}", user)
    app.router.add_get("/orders/{id}", order)
    app.router.add_get("/jobs/{id}", job)
    app.router.add_post("/login", login)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/text", text)
    app.router.add_get("/xml", xml)
    app.router.add_get("/html", html)
    return app
