# ruff: noqa: E501
"""The lodash subset (app/engine/scripts/js/lodash.js) against the real lodash 4, and `_` / `require('lodash')`
through pm.js's entry points: supported names run, missing ones are "not supported by Exile: _.<name>" both when
compiling and when called."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from py_mini_racer import MiniRacer

JS = Path(__file__).resolve().parents[3] / "app" / "engine" / "scripts" / "js"
ORDER = ["crypto.js", "moment.js", "schema.js", "expect.js", "lodash.js", "pm.js", "lockdown.js"]
_ids = itertools.count()

PRELUDE = """
var users = [
  { id: 1, name: 'ada', age: 36, active: true, tags: ['admin', 'dev'], team: { name: 'core', size: 3 } },
  { id: 2, name: 'bob', age: 24, active: false, tags: ['dev'], team: { name: 'web', size: 5 } },
  { id: 3, name: 'cy', age: 36, active: true, tags: [], team: { name: 'core', size: 3 } },
  { id: 4, name: 'dee', age: null, active: false, tags: ['ops'] }
];
var order = { id: 'o-1', items: [{ sku: 'a', qty: 2, price: 1.5 }, { sku: 'b', qty: 1, price: 10 }],
  customer: { address: { city: 'London', lines: ['1 Main St', 'Flat 2'] } }, 'a.b': 'dotted' };
"""

# How a result becomes text (the same function produced the expected values): undefined, NaN and functions
# are spelled out so that they stay distinct from null.
ENCODE = """function (v) {
  return JSON.stringify(v, function (k, x) {
    if (x === undefined) return '<undefined>';
    if (typeof x === 'number' && x !== x) return '<NaN>';
    if (typeof x === 'function') return '<function>';
    return x;
  });
}"""

# (expression, expected). The expected values are the real lodash's, generated once (not at test time) with
# node 20 and lodash 4.18.1 (`npm install --prefix /tmp/lodash-ref lodash@4`): for each expression,
#   ENCODE(new Function('_', PRELUDE + 'return (' + expression + ');')(require('/tmp/lodash-ref/node_modules/lodash')))
# Random functions appear only through properties that hold for every draw.
CASES: list[tuple[str, str]] = [
    ("_.map(users, 'name')", '["ada","bob","cy","dee"]'),
    ("_.map(users, 'team.name')", '["core","web","core","<undefined>"]'),
    ("_.map(users, function (u, i) { return u.id * 10 + i; })", "[10,21,32,43]"),
    ("_.map({ a: 1, b: 2 }, function (v, k) { return k + v; })", '["a1","b2"]'),
    ("_.map('abc')", '["a","b","c"]'),
    ("_.map(null)", "[]"),
    ("_.map([[1, 2], [3, 4]], 0)", "[1,3]"),
    (
        "_.filter(users, 'active')",
        '[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":3,"name":"cy","age":36,"active":true,"tags":[],"team":{"name":"core","size":3}}]',
    ),
    (
        "_.filter(users, { active: true, team: { name: 'core' } })",
        '[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":3,"name":"cy","age":36,"active":true,"tags":[],"team":{"name":"core","size":3}}]',
    ),
    (
        "_.filter(users, ['age', 36])",
        '[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":3,"name":"cy","age":36,"active":true,"tags":[],"team":{"name":"core","size":3}}]',
    ),
    (
        "_.filter(users, { tags: ['dev'] })",
        '[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":2,"name":"bob","age":24,"active":false,"tags":["dev"],"team":{"name":"web","size":5}}]',
    ),
    ("_.filter({ a: 1, b: 2, c: 3 }, function (v) { return v > 1; })", "[2,3]"),
    ("_.reject(users, 'active').map(function (u) { return u.id; })", "[2,4]"),
    (
        "_.find(users, { name: 'bob' })",
        '{"id":2,"name":"bob","age":24,"active":false,"tags":["dev"],"team":{"name":"web","size":5}}',
    ),
    ("_.find(users, function (u) { return u.age > 30; }).id", "1"),
    ("_.find(users, 'missing')", '"<undefined>"'),
    ("_.find(users, ['team.name', 'web']).id", "2"),
    ("_.find({ x: { v: 1 }, y: { v: 2 } }, { v: 2 })", '{"v":2}'),
    ("_.find(users, function (u) { return u.active; }, 1).id", "3"),
    ("_.findIndex(users, { id: 3 })", "2"),
    ("_.findIndex(users, 'active', -2)", "2"),
    ("_.findIndex([], 'x')", "-1"),
    ("_.findLast(users, 'active').id", "3"),
    ("_.some(users, { age: 24 })", "true"),
    ("_.some([null, 0, ''])", "false"),
    ("_.some(null)", "false"),
    ("_.every(users, 'id')", "true"),
    ("_.every([], 'x')", "true"),
    ("_.every(users, ['active', true])", "false"),
    ("_.reduce([1, 2, 3], function (s, n) { return s + n; }, 10)", "16"),
    ("_.reduce([1, 2, 3], function (s, n) { return s + n; })", "6"),
    ("_.reduce({ a: 1, b: 2 }, function (acc, v, k) { acc.push(k + '=' + v); return acc; }, [])", '["a=1","b=2"]'),
    ("_.reduce([], function () { return 1; })", '"<undefined>"'),
    ("_.includes([1, 2, NaN], NaN)", "true"),
    ("_.includes({ a: 'x', b: 'y' }, 'y')", "true"),
    ("_.includes('hello', 'ell')", "true"),
    ("_.includes([1, 2, 3], 1, 1)", "false"),
    ("_.includes([1, 2, 3], 3, -1)", "true"),
    ("_.get(order, 'customer.address.city')", '"London"'),
    ("_.get(order, 'customer.address.lines[1]')", '"Flat 2"'),
    ("_.get(order, ['customer', 'address', 'lines', '0'])", '"1 Main St"'),
    ("_.get(order, 'items[0].sku')", '"a"'),
    ("_.get(order, 'items.1.price')", "10"),
    ("_.get(order, 'a.b')", '"dotted"'),
    ("_.get(order, 'customer.phone', 'none')", '"none"'),
    ("_.get(order, 'customer.phone.number')", '"<undefined>"'),
    ("_.get(null, 'a', 'dflt')", '"dflt"'),
    ("_.get(order, [], 'empty')", '"empty"'),
    ("_.get({ a: null }, 'a', 'd')", "null"),
    ("_.get({ a: { 'b.c': 1 } }, 'a[\"b.c\"]')", "1"),
    ("_.get({ a: [{ b: { c: 3 } }] }, \"a[0]['b'].c\")", "3"),
    ("_.get('abc', 'length')", "3"),
    ("_.get({ '': { x: 1 } }, '.x')", "1"),
    ("_.set({}, 'a.b[0].c', 1)", '{"a":{"b":[{"c":1}]}}'),
    ("_.set({ a: { b: 2 } }, 'a.c', 3)", '{"a":{"b":2,"c":3}}'),
    ("_.set({}, ['x', '0', 'y'], 'v')", '{"x":[{"y":"v"}]}'),
    ("_.set({ a: 1 }, 'a.b', 2)", '{"a":{"b":2}}'),
    ("_.set({}, 'list[2]', 'z')", '{"list":["<undefined>","<undefined>","z"]}'),
    ("_.has(order, 'customer.address.city')", "true"),
    ("_.has(order, 'customer.zip')", "false"),
    ("_.has(order, ['a.b'])", "true"),
    ("_.has({ a: [1, 2] }, 'a[1]')", "true"),
    ("_.has(null, 'a')", "false"),
    ("_.has({ a: 1 }, [])", "false"),
    ("_.keys(order)", '["id","items","customer","a.b"]'),
    ("_.keys([1, 2])", '["0","1"]'),
    ("_.keys('hi')", '["0","1"]'),
    ("_.keys(null)", "[]"),
    ("_.values({ a: 1, b: [2] })", "[1,[2]]"),
    ("_.entries({ a: 1, b: 2 })", '[["a",1],["b",2]]'),
    ("_.toPairs({ x: null })", '[["x",null]]'),
    ("_.pick(order, ['id', 'customer.address.city'])", '{"id":"o-1","customer":{"address":{"city":"London"}}}'),
    ("_.pick({ a: 1, b: 2, c: 3 }, 'a', 'c', 'zz')", '{"a":1,"c":3}'),
    ("_.omit({ a: 1, b: 2, c: 3 }, ['b'])", '{"a":1,"c":3}'),
    (
        "_.omit(order, 'items', 'customer.address.lines', 'a.b')",
        '{"id":"o-1","customer":{"address":{"city":"London"}}}',
    ),
    ("_.isEqual({ a: [1, { b: 2 }], c: 'x' }, { c: 'x', a: [1, { b: 2 }] })", "true"),
    ("_.isEqual({ a: 1 }, { a: 1, b: undefined })", "false"),
    ("_.isEqual([1, 2], [2, 1])", "false"),
    ("_.isEqual(NaN, NaN)", "true"),
    ("_.isEqual(0, -0)", "true"),
    ("_.isEqual(new Date(5), new Date(5))", "true"),
    ("_.isEqual([1], { 0: 1 })", "false"),
    ("_.isEqual(users, JSON.parse(JSON.stringify(users)))", "true"),
    ("_.isEqual(null, undefined)", "false"),
    ("_.isEqual('a', new String('a'))", "true"),
    (
        "[_.isEmpty(null), _.isEmpty([]), _.isEmpty({}), _.isEmpty(''), _.isEmpty('x'), _.isEmpty([0]), _.isEmpty({ a: 1 }), _.isEmpty(1), _.isEmpty(true), _.isEmpty({ length: 0 })]",
        "[true,true,true,true,false,false,false,true,true,false]",
    ),
    (
        "[_.isArray([]), _.isArray('a'), _.isObject([]), _.isObject(function () {}), _.isObject(null), _.isObject('s')]",
        "[true,false,true,true,false,false]",
    ),
    (
        "[_.isPlainObject({}), _.isPlainObject(Object.create(null)), _.isPlainObject([]), _.isPlainObject(new Date()), _.isPlainObject(null)]",
        "[true,true,false,false,false]",
    ),
    (
        "[_.isString('a'), _.isString(1), _.isNumber(1), _.isNumber(NaN), _.isNumber('1'), _.isBoolean(false), _.isBoolean(0)]",
        "[true,false,true,true,false,true,false]",
    ),
    (
        "[_.isNull(null), _.isNull(undefined), _.isUndefined(undefined), _.isNil(null), _.isNil(undefined), _.isNil(0), _.isFunction(function () {}), _.isFunction({})]",
        "[true,false,true,true,true,false,true,false]",
    ),
    ("[_.size([1, 2, 3]), _.size({ a: 1, b: 2 }), _.size('héllo'), _.size(null), _.size(7)]", "[3,2,5,0,0]"),
    (
        "[_.first([1, 2]), _.head([]), _.last([1, 2, 3]), _.last([]), _.first('abc')]",
        '[1,"<undefined>",3,"<undefined>","a"]',
    ),
    ("_.uniq([2, 1, 2, NaN, NaN, '2', 1])", '[2,1,"<NaN>","2"]'),
    ("_.uniqBy(users, 'age').map(function (u) { return u.id; })", "[1,2,4]"),
    ("_.uniqBy([2.1, 1.2, 2.3], Math.floor)", "[2.1,1.2]"),
    ("_.sortBy(users, 'age').map(function (u) { return u.id; })", "[2,1,3,4]"),
    ("_.sortBy(users, ['age', 'name']).map(function (u) { return u.name; })", '["bob","ada","cy","dee"]'),
    ("_.sortBy(users, [function (u) { return -u.id; }]).map(function (u) { return u.id; })", "[4,3,2,1]"),
    ("_.sortBy([3, null, 1, undefined, NaN, 2, 'b', 'a'])", '[1,2,3,"a","b",null,"<undefined>","<NaN>"]'),
    ("_.sortBy({ x: 3, y: 1, z: 2 })", "[1,2,3]"),
    (
        "_.orderBy(users, ['age', 'name'], ['desc', 'asc']).map(function (u) { return u.name; })",
        '["dee","ada","cy","bob"]',
    ),
    ("_.orderBy(users, 'team.size', 'desc').map(function (u) { return u.id; })", "[4,2,1,3]"),
    ("_.orderBy(users).map(function (u) { return u.id; })", "[1,2,3,4]"),
    (
        "_.groupBy(users, 'age')",
        '{"24":[{"id":2,"name":"bob","age":24,"active":false,"tags":["dev"],"team":{"name":"web","size":5}}],"36":[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":3,"name":"cy","age":36,"active":true,"tags":[],"team":{"name":"core","size":3}}],"null":[{"id":4,"name":"dee","age":null,"active":false,"tags":["ops"]}]}',
    ),
    ("_.groupBy([6.1, 4.2, 6.3], Math.floor)", '{"4":[4.2],"6":[6.1,6.3]}'),
    ("_.groupBy(['one', 'two', 'three'], 'length')", '{"3":["one","two"],"5":["three"]}'),
    ("_.countBy(users, 'active')", '{"true":2,"false":2}'),
    ("_.countBy(['a', 'b', 'a'])", '{"a":2,"b":1}'),
    ("_.keyBy(users, 'name').cy.id", "3"),
    ("_.keyBy([{ k: 'a', v: 1 }, { k: 'a', v: 2 }], 'k')", '{"a":{"k":"a","v":2}}'),
    ("_.flatten([1, [2, [3, [4]]], 5])", "[1,2,[3,[4]],5]"),
    ("_.flattenDeep([1, [2, [3, [4]]], 5])", "[1,2,3,4,5]"),
    ("_.compact([0, 1, false, 2, '', 3, null, NaN, undefined, 'a'])", '[1,2,3,"a"]'),
    ("_.range(4)", "[0,1,2,3]"),
    ("_.range(-4)", "[0,-1,-2,-3]"),
    ("_.range(1, 5)", "[1,2,3,4]"),
    ("_.range(0, 20, 5)", "[0,5,10,15]"),
    ("_.range(0, -4, -1)", "[0,-1,-2,-3]"),
    ("_.range(1, 4, 0)", "[1,1,1]"),
    ("_.range(0)", "[]"),
    ("_.range(0, 1, 0.25)", "[0,0.25,0.5,0.75]"),
    ("_.times(3, String)", '["0","1","2"]'),
    ("_.times(4)", "[0,1,2,3]"),
    ("_.times(-1)", "[]"),
    ("[_.sum([4, 2, 8, 6]), _.sum([]), _.sum(['a', 'b']), _.sum([1, undefined, 2])]", '[20,0,"ab",3]'),
    ("_.sumBy(order.items, 'qty')", "3"),
    ("_.sumBy(order.items, function (i) { return i.qty * i.price; })", "13"),
    (
        "[_.min([4, 2, 8]), _.max([4, 2, 8]), _.min([]), _.max(['b', 'a']), _.min([null, 3, undefined, 1])]",
        '[2,8,"<undefined>","b",1]',
    ),
    ("_.minBy(users, 'age').id", "2"),
    ("_.maxBy(users, function (u) { return u.team ? u.team.size : 0; }).id", "2"),
    ("_.maxBy([], 'x')", '"<undefined>"'),
    ("_.clone({ a: [1], b: { c: 2 } })", '{"a":[1],"b":{"c":2}}'),
    (
        "_.cloneDeep(order)",
        '{"id":"o-1","items":[{"sku":"a","qty":2,"price":1.5},{"sku":"b","qty":1,"price":10}],"customer":{"address":{"city":"London","lines":["1 Main St","Flat 2"]}},"a.b":"dotted"}',
    ),
    ("_.merge({ a: [{ b: 2 }, { d: 4 }] }, { a: [{ c: 3 }, { e: 5 }] })", '{"a":[{"b":2,"c":3},{"d":4,"e":5}]}'),
    ("_.merge({ a: 1, b: { x: 1 } }, { b: { y: 2 } }, { c: 3, a: undefined })", '{"a":1,"b":{"x":1,"y":2},"c":3}'),
    ("_.merge({ a: [1, 2, 3] }, { a: [9] })", '{"a":[9,2,3]}'),
    ("_.merge({ a: { b: 1 } }, { a: null })", '{"a":null}'),
    ("_.merge({}, null, { x: 1 })", '{"x":1}'),
    ("_.assign({ a: 1 }, { b: 2 }, null, { a: 3 })", '{"a":3,"b":2}'),
    ("_.assign({}, 'ab')", '{"0":"a","1":"b"}'),
    ("_.defaults({ a: 1 }, { b: 2 }, { a: 3, c: null })", '{"a":1,"b":2,"c":null}'),
    ("_.defaults({ a: undefined, b: null }, { a: 1, b: 2 })", '{"a":1,"b":null}'),
    ("_.mapValues({ a: { n: 1 }, b: { n: 2 } }, 'n')", '{"a":1,"b":2}'),
    ("_.mapValues({ a: 1, b: 2 }, function (v, k) { return k + v * 2; })", '{"a":"a2","b":"b4"}'),
    ("_.mapKeys({ a: 1, b: 2 }, function (v, k) { return k + v; })", '{"a1":1,"b2":2}'),
    ("_.chunk(['a', 'b', 'c', 'd', 'e'], 2)", '[["a","b"],["c","d"],["e"]]'),
    ("_.chunk([1, 2, 3])", "[[1],[2],[3]]"),
    ("_.chunk([1, 2], 0)", "[]"),
    ("_.difference([2, 1, 3, 2], [2, 3], [7])", "[1]"),
    ("_.difference([1, 2], 1)", "[1,2]"),
    ("_.intersection([2, 1, 2], [2, 3], [1, 2])", "[2]"),
    ("_.intersection('ab', ['a'])", "[]"),
    ("_.union([2], [1, 2], [3, 1], 4)", "[2,1,3]"),
    ("_.without([2, 1, 2, 3], 1, 2)", "[3]"),
    ("_.zip(['a', 'b'], [1, 2], [true])", '[["a",1,true],["b",2,"<undefined>"]]'),
    ("_.zip()", "[]"),
    (
        "[_.startsWith('abc', 'a'), _.startsWith('abc', 'b', 1), _.startsWith('abc', ''), _.endsWith('abc', 'c'), _.endsWith('abc', 'b', 2), _.endsWith('abc', 'a', -1)]",
        "[true,true,true,true,true,false]",
    ),
    (
        "[_.trim('  abc  '), _.trim('-_-abc-_-', '_-'), _.trim(null), _.trim(' \\n\\t x \\u00a0')]",
        '["abc","abc","","x"]',
    ),
    ("_.map(['  a ', ' b'], _.trim)", '["a","b"]'),
    (
        "[_.padStart('5', 3, '0'), _.padStart('abc', 6, '_-'), _.padStart('abc', 2), _.padEnd('abc', 6), _.padEnd('abc', 6, '_-'), _.padStart('abc', 6, '')]",
        '["005","_-_abc","abc","abc   ","abc_-_","abc"]',
    ),
    (
        "_.map(['Foo Bar', '--foo-bar--', '__FOO_BAR__', 'fooBar', 'XMLHttpRequest', 'foo2bar', 'ABC123def', 'the 1st place', \"don't stop\", 'Crème brûlée', 'user_id', 'HTML5 Parser', 'x', '', 'getHTTPResponseCode', 'version 2.0.1', 'ÆON Straße'], _.camelCase)",
        '["fooBar","fooBar","fooBar","fooBar","xmlHttpRequest","foo2Bar","abc123Def","the1stPlace","dontStop","cremeBrulee","userId","html5Parser","x","","getHttpResponseCode","version201","aeOnStrasse"]',
    ),
    (
        "_.map(['Foo Bar', 'fooBar', '__FOO_BAR__', 'XMLHttpRequest', 'foo2bar', 'ABC123def', 'the 1st place', 'user_id', 'getHTTPResponseCode', 'a1B2c3', 'already-kebab'], _.kebabCase)",
        '["foo-bar","foo-bar","foo-bar","xml-http-request","foo-2-bar","abc-123-def","the-1st-place","user-id","get-http-response-code","a-1-b-2-c-3","already-kebab"]',
    ),
    (
        "_.map(['Foo Bar', 'fooBar', '--FOO-BAR--', 'userID', 'HTTPServer2Go', 'ÀÉÎõü ñ'], _.snakeCase)",
        '["foo_bar","foo_bar","foo_bar","user_id","http_server_2_go","ae_iou_n"]',
    ),
    (
        "[_.capitalize('FRED'), _.capitalize(''), _.toUpper('--foo-bar--'), _.toLower('ABC'), _.upperFirst('fred'), _.lowerFirst('Fred')]",
        '["Fred","","--FOO-BAR--","abc","Fred","fred"]',
    ),
    ("_.map(['fooBar', 'FOO BAR', '__foo_bar__'], _.startCase)", '["Foo Bar","FOO BAR","Foo Bar"]'),
    ("_.words('fred, barney, & pebbles')", '["fred","barney","pebbles"]'),
    ("_.words('camelCaseHTMLWord 42nd 3RD x1y2')", '["camel","Case","HTML","Word","42nd","3RD","x","1","y","2"]'),
    ("_.deburr('déjà vu Œuvre ŁÓDŹ')", '"deja vu Oeuvre LODZ"'),
    ("[_.identity(5), _.noop(1), typeof _.noop]", '[5,"<undefined>","function"]'),
    (
        "[_.isEqual(_.shuffle([1, 2, 3, 4]).sort(), [1, 2, 3, 4]), [1, 2, 3].indexOf(_.sample([1, 2, 3])) >= 0, _.sample([]), _.shuffle({ a: 1 })]",
        '[true,true,"<undefined>",[1]]',
    ),
    (
        "_.map(_.range(50), function () { var r = _.random(1, 3); return r >= 1 && r <= 3 && r % 1 === 0; }).every(Boolean)",
        "true",
    ),
    ("_.map(_.range(50), function () { var r = _.random(1.5); return r >= 0 && r <= 1.5; }).every(Boolean)", "true"),
    ("[/^id\\d+$/.test(_.uniqueId('id')), _.uniqueId() !== _.uniqueId()]", "[true,true]"),
    ("_(users).filter('active').map('name').value()", '["ada","cy"]'),
    ("_(users).map('age').sum()", "96"),
    ("_([3, 1, 2]).sortBy().first()", "1"),
    ("_.chain(order.items).map('qty').sum().value()", "3"),
    ("_.flatMap([1, 2], function (n) { return [n, n]; })", "[1,1,2,2]"),
    ("_.fromPairs([['a', 1], ['b', 2]])", '{"a":1,"b":2}'),
    ("_.zipObject(['a', 'b'], [1, 2])", '{"a":1,"b":2}'),
    ("_.partition(users, 'active').map(function (g) { return g.length; })", "[2,2]"),
    (
        "[_.round(4.006, 2), _.round(1.005, 2), _.floor(4.06, 1), _.ceil(4.006, 2), _.round(1234, -2)]",
        "[4.01,1.01,4,4.01,1200]",
    ),
    ("[_.mean([4, 2, 8, 6]), _.meanBy(order.items, 'qty')]", "[5,1.5]"),
    ("_.pickBy({ a: 1, b: null, c: 3 }, _.isNumber)", '{"a":1,"c":3}'),
    ("_.omitBy({ a: 1, b: null, c: 3 }, _.isNil)", '{"a":1,"c":3}'),
    (
        "[_.take([1, 2, 3], 2), _.drop([1, 2, 3]), _.tail([1, 2, 3]), _.initial([1, 2, 3]), _.takeRight([1, 2, 3], 2), _.nth([1, 2, 3], -1)]",
        "[[1,2],[2,3],[2,3],[1,2],[2,3],3]",
    ),
    ("_.xor([2, 1], [2, 3])", "[1,3]"),
    (
        "[_.toNumber('3.2'), _.toNumber('0b101'), _.toInteger('3.9'), _.toString([1, [2, null]]), _.toString(null)]",
        '[3.2,5,3,"1,2,null",""]',
    ),
    (
        "[_.escape('<a href=\"x\">&\\'</a>'), _.unescape('&lt;b&gt; &amp;amp;'), _.escapeRegExp('a.b*c')]",
        '["&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;","<b> &amp;","a\\\\.b\\\\*c"]',
    ),
    (
        "[_.repeat('ab', 3), _.pad('abc', 8, '_-'), _.split('a-b-c', '-', 2), _.replace('Hi Fred', 'Fred', 'Barney')]",
        '["ababab","_-abc_-_",["a","b"],"Hi Barney"]',
    ),
    ("_.invert({ a: 1, b: 2, c: 1 })", '{"1":"c","2":"b"}'),
    ("_.isMatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } })", "true"),
    ("_.forEach([1, 2, 3], function (n) { return n < 2; })", "[1,2,3]"),
    (
        "(function () { var seen = []; _.each([1, 2, 3, 4], function (n) { seen.push(n); return n !== 2; }); return seen; })()",
        "[1,2]",
    ),
    (
        "(function () { var seen = []; _.each({ a: 1, b: 2 }, function (v, k, o) { seen.push([k, v, o === undefined]); }); return seen; })()",
        '[["a",1,false],["b",2,false]]',
    ),
    (
        "(function () { var seen = []; _.forEach('ab', function (c, i) { seen.push(c + i); }); return seen; })()",
        '["a0","b1"]',
    ),
    (
        "_.cloneDeep([{ d: new Date(0) }, /x/g]).map(function (x) { return Object.prototype.toString.call(x); })",
        '["[object Object]","[object RegExp]"]',
    ),
    (
        "(function () { var a = { n: 1 }; a.self = a; var b = _.cloneDeep(a); return [b.self === b, b !== a, _.isEqual(a, b)]; })()",
        "[true,true,true]",
    ),
    ("_.sortBy(['b10', 'b9', 'a'], _.identity)", '["a","b10","b9"]'),
    (
        "_.orderBy([{ a: 2, b: 1 }, { a: 1, b: 2 }, { a: 2, b: 0 }], ['a', 'b'], ['asc'])",
        '[{"a":1,"b":2},{"a":2,"b":0},{"a":2,"b":1}]',
    ),
    ("_.map([{ a: { b: 1 } }, { a: null }, {}], 'a.b')", '[1,"<undefined>","<undefined>"]'),
    ("_.filter([{ a: [1, 2, 3] }, { a: [4] }], { a: [3, 1] }).length", "1"),
    ("_.find([{ a: { b: 1, c: 2 } }], { a: { b: 1 } }) !== undefined", "true"),
    ("_.includes([1, 2], '1')", "false"),
    ("_.camelCase('ISO8601 date-time')", '"iso8601DateTime"'),
    ("_.kebabCase('someAPIResponse_v2')", '"some-api-response-v-2"'),
    (
        "[_.get({a: {b: 1}}, 'a..b'), _.get({'': {'': 2}}, '.'), _.get({a: {'': 3}}, 'a.'), _.get({a: [[5]]}, 'a[0][0]'), _.get({a: {'[x]': 1}}, 'a[[x]]')]",
        '["<undefined>",2,3,5,"<undefined>"]',
    ),
    (
        "[_.get({a: {' b': 1}}, 'a[ b]'), _.get({a: {'b\\\\c': 1}}, 'a[\"b\\\\\\\\c\"]'), _.get({a: {'b\"c': 1}}, \"a['b\\\"c']\"), _.get({a:{b:{}}}, 'a[].b'), _.get({'a[0]': 7}, 'a[0]')]",
        '[1,1,1,"<undefined>",7]',
    ),
    ("_.set({}, 'a[0][1]', 1)", '{"a":[["<undefined>",1]]}'),
    ("_.set({}, 'a.0.b', 1)", '{"a":[{"b":1}]}'),
    ("_.set({}, '__proto__.x', 1)", "{}"),
    ("_.set([], '[1].x', 1)", '["<undefined>",{"x":1}]'),
    (
        "[_.has([, 1], 0), _.has({a: [,2]}, 'a[0]'), _.hasIn({}, 'toString'), _.has({}, 'toString')]",
        "[true,true,true,false]",
    ),
    ("_.merge({a: [1]}, {a: {b: 2}})", '{"a":[1]}'),
    ("_.merge({a: {b: 1}}, {a: [9]})", '{"a":[9]}'),
    ("_.merge([1, 2], [3])", "[3,2]"),
    ("_.merge({a: 'x'}, {a: {b: 1}})", '{"a":{"b":1}}'),
    ("_.merge({d: new Date(0)}, {d: {x: 1}})", '{"d":"1970-01-01T00:00:00.000Z"}'),
    ("_.merge({a: {x: 1}}, {a: {x: undefined, y: undefined}})", '{"a":{"x":1,"y":"<undefined>"}}'),
    ("_.defaults({}, {toString: 1})", '{"toString":1}'),
    ("_.isEqual({a: 1, b: 2}, {b: 2, a: 1})", "true"),
    ("_.isEqual([1, [2, [3]]], [1, [2, [3]]])", "true"),
    ("_.isEqual([1, , 3], [1, undefined, 3])", "true"),
    ("_.isEqual({a: undefined}, {b: undefined})", "false"),
    ("_.isEqual(/a/g, /a/g)", "true"),
    ("_.isEqual(/a/g, /a/i)", "false"),
    ("_.isEqual(new Map([[1, {a: 1}]]), new Map([[1, {a: 1}]]))", "true"),
    ("_.isEqual(new Set([1, 2]), new Set([2, 1]))", "true"),
    ("_.isEqual(function () {}, function () {})", "false"),
    ("_.isEqual(1, Object(1))", "true"),
    (
        "(function () { function A() { this.x = 1; } function B() { this.x = 1; } return [_.isEqual(new A(), new B()), _.isEqual(new A(), {x: 1}), _.isEqual(new A(), new A())]; })()",
        "[false,false,true]",
    ),
    (
        "(function () { var a = {}; a.a = a; var b = {}; b.a = b; var c = {a: {}}; c.a.a = c; return [_.isEqual(a, b), _.isEqual(a, c)]; })()",
        "[true,false]",
    ),
    ("_.isEqual(Object.create(null), {})", "true"),
    ("_.isEqual([1, 2], [1, 2, 3])", "false"),
    ("_.isMatch({a: [1, 2, 3]}, {a: [2, 2]})", "false"),
    ("_.isMatch({a: [1, 2, 3]}, {a: []})", "true"),
    ("_.isMatch({}, {})", "true"),
    ("_.isMatch(null, {})", "true"),
    ("_.isMatch({a: {b: [1, {c: 2}]}}, {a: {b: [{c: 2}]}})", "true"),
    ("_.filter([{a: undefined}, {}], {a: undefined}).length", "1"),
    ("_.filter([{a: 0}, {a: -0}, {a: NaN}], ['a', NaN]).length", "1"),
    ("_.clone(function f() {})", "{}"),
    ("_.cloneDeep({f: function () { return 1; }}).f()", "1"),
    ("_.clone([1, [2]])", "[1,[2]]"),
    ("_.cloneDeep({a: new Error('x')}).a instanceof Error", "true"),
    ("_.omit({a: {b: {c: 1, d: 2}}, e: [1, 2]}, 'a.b.c')", '{"a":{"b":{"d":2}},"e":[1,2]}'),
    ("_.omit([1, 2, 3], 0)", '{"1":2,"2":3}'),
    ("_.pick({a: {b: 1, c: 2}, d: 3}, 'a.b', 'd')", '{"a":{"b":1},"d":3}'),
    ("_.pick([1, 2, 3], 1)", '{"1":2}'),
    ("_.pick({a: 1}, ['a', ['b']])", '{"a":1}'),
    ("_.sortBy([{a: 'B'}, {a: 'a'}, {a: 'C'}], 'a')", '[{"a":"B"},{"a":"C"},{"a":"a"}]'),
    ("_.sortBy([2, '10', 1])", '[1,2,"10"]'),
    ("_.sortBy([true, false, 0, 1])", "[false,0,true,1]"),
    ("_.orderBy([3, 1, 2], null, 'desc')", "[3,2,1]"),
    (
        "_.orderBy([{a: null}, {a: 1}, {a: undefined}, {}, {a: 0}], 'a', 'desc')",
        '[{"a":"<undefined>"},{},{"a":null},{"a":1},{"a":0}]',
    ),
    (
        "_.groupBy([{t: null}, {t: undefined}, {t: 'x'}], 't')",
        '{"null":[{"t":null}],"undefined":[{"t":"<undefined>"}],"x":[{"t":"x"}]}',
    ),
    ("_.countBy([1.2, 1.4, 2.1], Math.floor)", '{"1":2,"2":1}'),
    ("_.groupBy({a: 1, b: 2, c: 1})", '{"1":[1,1],"2":[2]}'),
    ("[_.uniq([0, -0]), _.uniq([[1], [1]]).length, _.uniq(null), _.uniq('aab')]", '[[0],2,[],["a","b"]]'),
    ("[_.flatten([[1, [2]], [], 3]), _.flatten(null), _.flattenDeep([[[[]]]])]", "[[1,[2],3],[],[]]"),
    (
        "[_.range(5, 1), _.range(1, 2, -1), _.range('3'), _.range(NaN), _.range(0, 3, '1')]",
        "[[5,4,3,2],[],[0,1,2],[],[0,1,2]]",
    ),
    ("[_.times('3'), _.times(2.7), _.times(0)]", "[[0,1,2],[0,1],[]]"),
    ("[_.sum([0.1, 0.2]), _.sum([null, 1]), _.sum(null), _.sumBy([{a: 1}, {}], 'a')]", "[0.30000000000000004,1,0,1]"),
    (
        "[_.min(['10', '9']), _.max([1, '2']), _.min([NaN, 1]), _.max([undefined]), _.max([Infinity, -Infinity])]",
        '["10","2",1,"<undefined>",null]',
    ),
    ("_.minBy([{n: 2}, {n: 1}, {n: 1}], 'n')", '{"n":1}'),
    (
        "[_.chunk('abc', 2), _.chunk([1, 2, 3], 2.5), _.chunk([1], -1), _.chunk(null)]",
        '[[["a","b"],["c"]],[[1,2],[3]],[],[]]',
    ),
    ("[_.difference([NaN, 1], [NaN]), _.difference([1, 2], [1], 2, [2]), _.difference(null, [1])]", "[[1],[],[]]"),
    (
        "[_.intersection([1, 2]), _.intersection(), _.intersection([1], null), _.intersection([NaN, 0], [NaN, -0])]",
        '[[1,2],[],[],["<NaN>",0]]',
    ),
    ("[_.union(), _.union([1, 1]), _.union('ab')]", "[[],[1],[]]"),
    ("[_.without([NaN], NaN), _.without(null, 1)]", "[[],[]]"),
    ("[_.zip([1, 2]), _.zip([1], 'ab'), _.unzip([[1, 'a'], [2, 'b']])]", '[[[1],[2]],[[1]],[[1,2],["a","b"]]]'),
    (
        "[_.startsWith(null, ''), _.startsWith('abc', 'c', 10), _.startsWith('abc', 'a', -5), _.endsWith('abc', 'c', 10), _.endsWith('abc', '', 0), _.endsWith(12, 2)]",
        "[true,false,true,true,true,true]",
    ),
    (
        "[_.trim('xxaxx', 'x'), _.trim('abc', ''), _.trim('  a  ', undefined), _.trim(123, '1'), _.trim('aaa', 'a'), _.trim('\\u3000a\\u3000')]",
        '["a","abc","a","23","","a"]',
    ),
    (
        "[_.padStart('abc', 10, 'xyz'), _.padEnd('abc', 10, 'xyz'), _.padStart(5, 3), _.padStart('abc', '5'), _.padEnd(null, 2, 'ab'), _.pad('abc', 3), _.pad('a', 4)]",
        '["xyzxyzxabc","abcxyzxyzx","  5","  abc","ab","abc"," a  "]',
    ),
    (
        "_.map(['', ' ', 'a', 'A', 'aB', 'AB', 'ABc', 'abcDEF', 'ABCdef', 'ab12CD', 'Ab12cd', '1', '12', '1a', 'a1', 'A1', '1A', '11th', '12TH', '2ndPlace', '3rdparty', '21st century', 'v1.2.3', 'naïve café', 'ÉCOLE', 'ßig', 'ÀB', 'über_cool', 'привет мир', 'Привет Мир', '日本語 テキスト', 'emoji 😀 here', 'tab\\tsep', 'dash—sep', 'x×y', 'a÷b', 'µs', 'ÿes', 'Œuvre'], _.kebabCase)",
        '["","","a","a","a-b","ab","a-bc","abc-def","ab-cdef","ab-12-cd","ab-12-cd","1","12","1-a","a-1","a-1","1-a","11-th","12-th","2nd-place","3-rdparty","21st-century","v-1-2-3","naive-cafe","ecole","ssig","ab","uber-cool","привет-мир","привет-мир","日本語-テキスト","emoji-😀-here","tab-sep","dash-sep","x-y","a-b","s","yes","oeuvre"]',
    ),
    (
        "_.map(['', ' ', 'a', 'A', 'aB', 'AB', 'ABc', 'abcDEF', 'ABCdef', 'ab12CD', 'Ab12cd', '1a', 'a1', 'A1', '1A', '11th', '12TH', '2ndPlace', '3rdparty', '21st century', 'v1.2.3', 'naïve café', 'ÉCOLE', 'ßig', 'über_cool', 'привет мир', 'Привет Мир', 'i18nKey', 'x-request-id', 'Content-Type', 'HTTP_STATUS_CODE'], _.camelCase)",
        '["","","a","a","aB","ab","aBc","abcDef","abCdef","ab12Cd","ab12Cd","1A","a1","a1","1A","11Th","12Th","2ndPlace","3Rdparty","21stCentury","v123","naiveCafe","ecole","ssig","uberCool","приветМир","приветМир","i18NKey","xRequestId","contentType","httpStatusCode"]',
    ),
    (
        "_.map(['FOO', 'Foo-Bar', 'fooBar', 'ÀB', 'hello world!'], _.startCase)",
        '["FOO","Foo Bar","Foo Bar","AB","Hello World"]',
    ),
    ("_.map(['FOO', 'Foo-Bar', 'fooBar', 'hello world!'], _.lowerCase)", '["foo","foo bar","foo bar","hello world"]'),
    ("_.map(['FOO', 'Foo-Bar', 'fooBar', 'hello world!'], _.upperCase)", '["FOO","FOO BAR","FOO BAR","HELLO WORLD"]'),
    (
        "_.deburr(_.range(0xc0, 0x180).map(function (c) { return String.fromCharCode(c); }).join(''))",
        '"AAAAAAAeCEEEEIIIIDNOOOOO×OUUUUYThssaaaaaaaeceeeeiiiidnooooo÷ouuuuythyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIJijJjKkkLlLlLlLlLlNnNnNn\'nNnOoOoOoOeoeRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs"',
    ),
    ("_.deburr('e\\u0301 a\\u0308')", '"e a"'),
    (
        "[_.capitalize('éCOLE'), _.capitalize(null), _.upperFirst(''), _.toUpper(null), _.toLower([1, 'A'])]",
        '["École","","","","1,a"]',
    ),
    ("[_.size({length: 2}), _.size(new Map([[1, 2]])), _.size(''), _.size(true)]", "[2,1,0,0]"),
    (
        "[_.keys({length: 1, 0: 'a'}), _.keys(function () {}), _.values('ab'), _.keys(Object.assign([1], {x: 2}))]",
        '[["0","length"],[],["a","b"],["0","x"]]',
    ),
    ("_.entries(new Map([['a', 1]]))", '[["a",1]]'),
    ("_.toPairs([1, 2])", '[["0",1],["1",2]]'),
    ("[_.first(null), _.last('abc'), _.head({0: 'x', length: 1})]", '["<undefined>","c","x"]'),
    (
        "[_.includes(null, 1), _.includes([1], 1, 5), _.includes('abc', 'c', -1), _.includes('abc', '', 3), _.includes('abc', '', 4), _.includes({a: NaN}, NaN)]",
        "[false,false,true,true,false,true]",
    ),
    (
        "[_.some({a: 0, b: 1}), _.every({a: 1, b: 0}), _.some([{a: 1}], {a: 1}), _.every('abc', function (c) { return c < 'd'; })]",
        "[true,false,true,true]",
    ),
    (
        "[_.find([1, 2, 3], function (n) { return n > 1; }, -1), _.find({a: 1, b: 2}, function (v) { return v > 0; }, 1), _.findIndex([1, 2, 3], function (n) { return n > 0; }, 10), _.findIndex([1, 2, 3], function (n) { return n > 0; }, -10)]",
        "[3,2,-1,0]",
    ),
    (
        "[_.findLast([1, 2, 3, 4], function (n) { return n % 2; }), _.findLastIndex([1, 2, 1], function (n) { return n === 1; }, 1), _.findKey({a: {x: 1}, b: {x: 2}}, {x: 2})]",
        '[3,0,"b"]',
    ),
    (
        "[_.reduce(null, function () {}, 1), _.reduce({}, function () {}), _.reduce('abc', function (a, c) { return c + a; })]",
        '[1,"<undefined>","cba"]',
    ),
    ("_.map([1, 2], _.add === undefined ? String : String)", '["1","2"]'),
    (
        "[_.isEmpty(new Map()), _.isEmpty(new Set([1])), _.isEmpty(Object.create({a: 1})), _.isEmpty(function () {}), _.isEmpty(NaN), _.isEmpty(arguments)]",
        "[true,false,true,true,true,false]",
    ),
    (
        "[_.isPlainObject(Object.create({})), _.isPlainObject(Object.create(Object.prototype)), _.isPlainObject(Math), _.isPlainObject(JSON)]",
        "[false,true,false,false]",
    ),
    (
        "[_.isString(new String('x')), _.isNumber(new Number(1)), _.isBoolean(new Boolean(false)), _.isObject(new Number(1)), _.isFunction(class X {}), _.isFunction(async function () {}), _.isArray(arguments)]",
        "[true,true,true,true,true,true,false]",
    ),
    (
        "[_.isInteger(1.0), _.isInteger('1'), _.isFinite(Infinity), _.isFinite('1'), _.isNaN(NaN), _.isNaN(undefined), _.isDate(new Date()), _.isRegExp(/x/), _.isError(new TypeError('x'))]",
        "[true,false,false,false,true,false,true,true,true]",
    ),
    (
        "[_.toNumber(''), _.toNumber(' 12 '), _.toNumber('0x1f'), _.toNumber('-0x1f'), _.toNumber('0o17'), _.toNumber(null), _.toNumber([5]), _.toNumber({}), _.toInteger(Infinity), _.toInteger(-3.7), _.toFinite('x')]",
        '[0,12,31,"<NaN>",15,0,5,"<NaN>",1.7976931348623157e+308,-3,0]',
    ),
    (
        "[_.toString(-0), _.toString([-0]), _.toString(undefined), _.toString({}), _.toString(Symbol('s'))]",
        '["-0","-0","","[object Object]","Symbol(s)"]',
    ),
    (
        "[_.round(2.5), _.round(-2.5), _.round(1.255, 2), _.round('3.14159', 3), _.floor(-0.5), _.ceil(0.1, -1), _.round(1e21, 2), _.round(NaN, 2)]",
        '[3,-2,1.26,3.142,-1,10,1e+21,"<NaN>"]',
    ),
    (
        "[_.clamp(10, -5, 5), _.clamp(-10, -5, 5), _.clamp(3, 2), _.inRange(3, 2, 4), _.inRange(4, 8), _.inRange(-3, -2, -6), _.inRange(2, 2)]",
        "[5,-5,2,true,true,true,false]",
    ),
    ("[_.mean([]), _.meanBy([{n: 2}, {n: 4}], function (o) { return o.n; })]", '["<NaN>",3]'),
    ("_(users).map('name').join('-')", '"ada-bob-cy-dee"'),
    (
        "_(users).forEach(function () {})",
        '[{"id":1,"name":"ada","age":36,"active":true,"tags":["admin","dev"],"team":{"name":"core","size":3}},{"id":2,"name":"bob","age":24,"active":false,"tags":["dev"],"team":{"name":"web","size":5}},{"id":3,"name":"cy","age":36,"active":true,"tags":[],"team":{"name":"core","size":3}},{"id":4,"name":"dee","age":null,"active":false,"tags":["ops"]}]',
    ),
    ("_([1, 2, 3]).includes(2)", "true"),
    ("_({a: 1, b: 2}).keys().value()", '["a","b"]'),
    ("_.chain([3, 1, 2]).sortBy().first().value()", "1"),
    ("_([1, 2, 3]).filter(function (n) { return n > 1; }).map(function (n) { return n * 2; }).value()", "[4,6]"),
    ("_([1, [2, [3]]]).flattenDeep().uniq().reverse().value()", "[3,2,1]"),
    ("_([4, 2]).chain().head().value()", "4"),
    ("JSON.stringify(_([1, 2]))", '"[1,2]"'),
    ("[_([1, 2]) instanceof _, _.isEqual(_([1]).value(), [1]), String(_([1, 2]))]", '[true,true,"1,2"]'),
    ("_.chain({a: {b: [1, 2]}}).get('a.b').map(function (n) { return n + 1; }).value()", "[2,3]"),
    ("_.map(['6', '08', '10'], _.toInteger)", "[6,8,10]"),
    ("_.map(['a', 'b'], _.toUpper)", '["A","B"]'),
    ("_.map([[1, 2], [3, 4]], _.first)", "[1,3]"),
    ("_.map([[3, 1], [2]], _.sortBy)", "[[1,3],[2]]"),
    ("_.map([' a', 'b '], _.padStart)", '[" a","b "]'),
    ("_.map([{a: 1}, {b: 2}], _.keys)", '[["a"],["b"]]'),
    ("_.reduce([{a: 1}, {b: 2}, {a: 3}], _.merge, {})", '{"a":3,"b":2}'),
    ("_.reduce([{a: 1}, {b: 2}], _.assign, {})", '{"a":1,"b":2}'),
    ("_.reduce([{a: 1}, {b: 2}, {a: 9}], _.defaults, {})", '{"a":1,"b":2}'),
    ("_.map([1, 2, 3], _.chunk)", "[[],[],[]]"),
    ("_.map(['ab', 'cd'], _.repeat)", '["ab","cd"]'),
    ("_.map([2, 3], _.range)", "[[0,1],[0,1,2]]"),
    ("_.map([1, 2], _.times)", '[["<undefined>"],["<undefined>","<undefined>"]]'),
    (
        "[_.escape(null), _.escape('`'), _.unescape('&#96;&#39;'), _.escapeRegExp('[a](b){c}|^$\\\\')]",
        '["","`","&#96;\'","\\\\[a\\\\]\\\\(b\\\\)\\\\{c\\\\}\\\\|\\\\^\\\\$\\\\\\\\"]',
    ),
    (
        "[_.split('abc', ''), _.split('a,b,,c', ','), _.split('a1b2c', /\\d/), _.split(null, ','), _.split('a-b', '-', 0), _.map(['a b', 'c d'], _.split)]",
        '[["a","b","c"],["a","b","","c"],["a","b","c"],[""],[],[["a b"],["c d"]]]',
    ),
    ("[_.repeat('x', 0), _.repeat('x'), _.repeat('', 5), _.repeat('ab', 2.9)]", '["","x","","abab"]'),
    (
        "[_.nth(['a', 'b'], 5), _.nth(['a', 'b']), _.take([1, 2], -1), _.drop([1, 2], 5), _.takeRight([1, 2, 3]), _.dropRight([1, 2, 3], 2)]",
        '["<undefined>","a",[],[],[3],[1]]',
    ),
    (
        "[_.concat(1, [2], [[3]]), _.concat(), _.castArray(1), _.castArray(), _.castArray([1]), _.castArray(undefined)]",
        '[[1,2,[3]],[],[1],[],[1],["<undefined>"]]',
    ),
    (
        "[_.xor([1, 1, 2], [2, 3], [3, 4]), _.zipObject(['a', 'b'], [1]), _.fromPairs(null), _.join(['a', 'b'], '~'), _.join(null), _.indexOf([1, NaN, 2], NaN), _.indexOf([1, 2, 1], 1, -1)]",
        '[[1,4],{"a":1,"b":"<undefined>"},{},"a~b","",1,2]',
    ),
    (
        "[_.invert({a: 'x', b: 'x'}), _.mapKeys([5, 6], function (v, i) { return 'k' + i; }), _.mapValues([5, 6], function (v) { return v * 2; }), _.mapValues(null, _.identity)]",
        '[{"x":"b"},{"k0":5,"k1":6},{"0":10,"1":12},{}]',
    ),
    (
        "[_.defaultTo(null, 1), _.defaultTo(NaN, 1), _.defaultTo(0, 1), _.constant(5)(), _.negate(Boolean)(0), _.thru(2, function (n) { return n * 3; }), _.tap([1], function (a) { a.push(2); })]",
        "[1,1,0,5,true,6,[1,2]]",
    ),
    (
        "[_.property('a.b')({a: {b: 1}}), _.property(['a', 'b'])({a: {b: 2}}), _.matches({a: 1})({a: 1, b: 2}), _.matchesProperty('a', [1])({a: [1, 2]}), _.iteratee('x')({x: 9}), _.iteratee(['x', 1])({x: 1})]",
        "[1,2,true,true,9,true]",
    ),
    (
        "[_.partition([1, 2, 3, 4], function (n) { return n % 2; }), _.flatMap({a: [1], b: [2, 3]}), _.flatMap([[1], 2], _.identity)]",
        "[[[1,3],[2,4]],[1,2,3],[1,2]]",
    ),
    (
        "[_.forOwn({a: 1, b: 2}, function () { return false; }), _.forEach(null), _.each({a: 1}, 'x')]",
        '[{"a":1,"b":2},null,{"a":1}]',
    ),
    (
        "[_.assignIn({}, Object.create({inherited: 1})), _.extend({a: 1}, {b: 2}), _.assign({}, Object.create({inherited: 1}))]",
        '[{"inherited":1},{"a":1,"b":2},{}]',
    ),
    (
        "[_.values(null), _.keysIn(Object.create({z: 1})), _.toArray('ab'), _.toArray({a: 1}), _.toArray(null), _.toArray(new Set([1]))]",
        '[[],["z"],["a","b"],[1],[],[1]]',
    ),
    ("[_.unset({a: {b: 1}}, 'a.b'), _.unset(null, 'a'), _.unset({a: 1}, 'x.y')]", "[true,true,true]"),
    ("(function () { var o = {a: {b: 1, c: 2}}; _.unset(o, 'a.b'); return o; })()", '{"a":{"c":2}}'),
    ("[_.sampleSize([1, 2, 3], 5).length, _.sampleSize([1, 2, 3]).length, _.sampleSize([], 2)]", "[3,1,[]]"),
    (
        "[_.words('abc def', /\\w/g), _.words('aXbXc', 'X'), _.map(['a b', 'c d'], _.words)]",
        '[["a","b","c","d","e","f"],["X"],[["a","b"],["c","d"]]]',
    ),
    ("_.sortBy([{d: new Date(2)}, {d: new Date(1)}], 'd').map(function (o) { return +o.d; })", "[1,2]"),
    (
        "_.orderBy([{a: 'x', b: 2}, {a: 'x', b: 1}, {a: 'w', b: 3}], [function (o) { return o.a; }, 'b'], ['desc', 'asc'])",
        '[{"a":"x","b":1},{"a":"x","b":2},{"a":"w","b":3}]',
    ),
    ("_.sortBy([{a: {b: 2}}, {a: {b: 1}}], [['a', 'b']])", '[{"a":{"b":1}},{"a":{"b":2}}]'),
    ("_.keyBy([{id: 1}, {id: 2}], function (o) { return 'k' + o.id; })", '{"k1":{"id":1},"k2":{"id":2}}'),
    ("_.groupBy(['a', 'b'], function (v, i) { return typeof i; })", '{"undefined":["a","b"]}'),
    ("_.map({a: 1}, function (v, k, o) { return [v, k, o]; })", '[[1,"a",{"a":1}]]'),
    ("_.filter('abc', function (c, i) { return i !== 1; })", '["a","c"]'),
    (
        "_.map(['emoji 😀 here', 'a😀b', 'AB😀', '👍🏽ok', '👨\u200d👩\u200d👧 family', '🇬🇧🇫🇷', '✂️cut', 'a→b', '日本、語', 'x\\u3000y', 'Ωmega', 'ΑΒΓ δ', '𝒳𝒴', 'a\\u00a0b', 'a¿b', 'e\\u0301t'], _.words)",
        '[["emoji","😀","here"],["a","😀","b"],["AB","😀"],["👍🏽","ok"],["👨\u200d👩\u200d👧","family"],["🇬🇧","🇫🇷"],["✂️","cut"],["a→b"],["日本、語"],["x","y"],["Ωmega"],["ΑΒΓ","δ"],["𝒳","𝒴"],["a","b"],["a","b"],["ét"]]',
    ),
    (
        "_.map(['emoji 😀 here', 'a😀b', 'a→b c', 'Ωmega word'], _.kebabCase)",
        '["emoji-😀-here","a-😀-b","a→b-c","ωmega-word"]',
    ),
    (
        "_.keyBy([{ n: 'constructor' }, { n: 'toString' }, { n: 'hasOwnProperty' }], 'n')",
        '{"constructor":{"n":"constructor"},"toString":{"n":"toString"},"hasOwnProperty":{"n":"hasOwnProperty"}}',
    ),
    (
        "_.groupBy(['constructor', 'valueOf', 'valueOf'], _.identity)",
        '{"constructor":["constructor"],"valueOf":["valueOf","valueOf"]}',
    ),
    ("_.countBy(['toString', 'toString', 'x'])", '{"toString":2,"x":1}'),
    (
        '_.mapValues(JSON.parse(\'{"constructor": 1, "__proto__": {"x": 1}}\'), function (v) { return v; })',
        '{"constructor":1,"__proto__":{"x":1}}',
    ),
    ('_.merge({}, JSON.parse(\'{"toString": "s", "a": {"valueOf": 2}}\'))', '{"toString":"s","a":{"valueOf":2}}'),
    ("_.assign({}, { constructor: 'c', propertyIsEnumerable: 1 })", '{"constructor":"c","propertyIsEnumerable":1}'),
    ("_.zipObject(['toString', 'isPrototypeOf'], [1, 2])", '{"toString":1,"isPrototypeOf":2}'),
    ("_.set({}, 'a.toString', 5)", '{"a":{"toString":5}}'),
    ("_.fromPairs([['valueOf', 1]])", '{"valueOf":1}'),
    (
        "_.sortBy([3, null, Symbol.iterator, 1, undefined, NaN, 2, 'b', NaN, 'a', null, undefined, {}, [], true, -1, Symbol.iterator]).map(String)",
        '["","1","true","2","3","[object Object]","a","b","-1","Symbol(Symbol.iterator)","Symbol(Symbol.iterator)","null","null","undefined","undefined","NaN","NaN"]',
    ),
    (
        "_.orderBy([{a: null}, {a: -1}, {a: 'x'}, {a: undefined}, {a: NaN}, {a: 0}, {a: 5}], 'a', 'desc').map(function (o) { return String(o.a); })",
        '["NaN","undefined","null","5","-1","x","0"]',
    ),
    ("_.sortBy(['10', 9, '8', 'a', 7, null, false, true]).map(String)", '["false","true","7","8","9","10","a","null"]'),
    (
        "[_.get({'a]': 1}, 'a]'), _.get({'a[': 1}, 'a['), _.get({a: {'b[': 2}}, 'a.b['), _.has({'x[0]y': 1}, 'x[0]y'), _.get({x: [{y: 5}]}, 'x[0]y')]",
        '[1,1,"<undefined>",true,5]',
    ),
]


def load() -> MiniRacer:
    ctx = MiniRacer()
    for name in ORDER:
        ctx.eval((JS / name).read_text(encoding="utf-8"))
    return ctx


@pytest.fixture(scope="module")
def ctx() -> MiniRacer:
    return load()


def evaluate(ctx: MiniRacer, expression: str) -> str:
    """The expression's encoded value with the subset as `_`, in the locked-down runtime (as scripts see it)."""
    source = (
        "(function () { var encode = " + ENCODE + ";\n"
        "try { return encode((function (_) {" + PRELUDE + "\nreturn (" + expression + ");\n})(__exile_lodash)); }\n"
        "catch (e) { return 'THROWS ' + e.name + ': ' + e.message; } })()"
    )
    return ctx.eval(source)


def test_the_table_is_large_and_runs_after_the_lockdown(ctx: MiniRacer):
    assert len(CASES) >= 80
    assert ctx.eval("Object.isFrozen(globalThis) && Object.isFrozen(__exile_lodash)") is True


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[f"{i:03d}" for i in range(len(CASES))])
def test_same_result_as_lodash(ctx: MiniRacer, expression: str, expected: str):
    assert evaluate(ctx, expression) == expected


# ---- through pm.js's entry points ----------------------------------------------------------------------------
ITEMS = {
    "items": [{"sku": "a", "qty": 2, "tags": ["x"]}, {"sku": "b", "qty": 1, "tags": []}],
    "meta": {"page": {"n": 1}},
}


def make_input(body: Any = ITEMS) -> dict[str, Any]:
    return {
        "event": "test",
        "info": {"iteration": 0, "iterationCount": 1, "requestName": "r", "requestId": "step:1"},
        "request": {"method": "GET", "url": "http://api.test/items", "headers": [], "body": {"mode": "none"}},
        "response": {
            "code": 200,
            "status": "OK",
            "headers": [["Content-Type", "application/json"]],
            "body": json.dumps(body),
            "responseTime": 1.0,
            "responseSize": 10,
        },
        "variables": {"runtime": {}, "step": {}, "data": {}, "run": {}, "scenario": {}, "environment": {}},
        "secretNames": [],
    }


class Runtime:
    def __init__(self) -> None:
        self.ctx = load()

    def compile(self, source: str, script_id: str | None = None) -> dict[str, Any]:
        return json.loads(self.ctx.call("__exile_compile", script_id or f"s{next(_ids)}", source))

    def execute(self, script_id: str) -> dict[str, Any]:
        return json.loads(self.ctx.call("__exile_execute", script_id, json.dumps(make_input())))

    def run(self, source: str) -> dict[str, Any]:
        script_id = f"s{next(_ids)}"
        compiled = self.compile(source, script_id)
        assert compiled == {"error": None, "unsupported": []}, compiled
        return self.execute(script_id)


@pytest.fixture(scope="module")
def rt() -> Runtime:
    return Runtime()


def results(out: dict[str, Any]) -> dict[str, tuple[bool, str | None]]:
    return {t["name"]: (t["passed"], t["error"]) for t in out["tests"]}


def test_a_script_using_each_get_find_and_isEqual_runs(rt: Runtime):
    out = rt.run(
        """
var json = pm.response.json();
var skus = [];
_.each(json.items, function (item) { skus.push(item.sku); });
pm.test('each', function () { pm.expect(skus).to.eql(['a', 'b']); });
pm.test('get', function () { pm.expect(_.get(json, 'items[0].tags[0]')).to.equal('x'); });
pm.test('get default', function () { pm.expect(_.get(json, 'meta.page.size', 20)).to.equal(20); });
pm.test('find', function () { pm.expect(_.find(json.items, { sku: 'b' }).qty).to.equal(1); });
pm.test('isEqual', function () { pm.expect(_.isEqual(json.meta, { page: { n: 1 } })).to.be.true; });
pm.test('sumBy', function () { pm.expect(_.sumBy(json.items, 'qty')).to.equal(3); });
pm.test('chain', function () { pm.expect(_(json.items).filter('qty').map('sku').join()).to.equal('a,b'); });
pm.environment.set('first', _.first(_.map(json.items, 'sku')));
"""
    )
    assert out["error"] is None and out["unsupported"] is None, out
    assert all(passed for passed, _ in results(out).values()), out["tests"]
    assert len(out["tests"]) == 7
    assert out["set"] == {"first": "a"}


def test_require_lodash_is_the_same_subset(rt: Runtime):
    out = rt.run(
        """
const lodash = require('lodash');
pm.test('same', function () { pm.expect(lodash === _).to.be.true; });
pm.test('works', function () { pm.expect(lodash.uniq([1, 1, 2])).to.eql([1, 2]); });
pm.test('frozen', function () { pm.expect(Object.isFrozen(lodash)).to.be.true; });
"""
    )
    assert results(out) == {"same": (True, None), "works": (True, None), "frozen": (True, None)}, out


@pytest.mark.parametrize(
    "source",
    [
        "var t = _.template('hi <%= name %>'); t({ name: 'x' });",
        "const lo = require('lodash'); lo.template('x');",
        "require('lodash').template('x');",
        "var f = _ .template; f('x');",
    ],
)
def test_template_is_not_supported_when_compiling_and_when_run(rt: Runtime, source: str):
    script_id = f"s{next(_ids)}"
    assert rt.compile(source, script_id) == {"error": None, "unsupported": ["_.template"]}
    out = rt.execute(script_id)
    assert out["unsupported"] == "_.template"
    assert out["error"] == {"name": "Error", "message": "not supported by Exile: _.template"}


def test_compile_names_only_what_the_subset_lacks(rt: Runtime):
    source = (
        "_.each([], _.noop); _.get({}, 'a'); var lo = require('lodash'); lo.map([]); lo.debounce(f);"
        "_.throttle(g); _.each(x, y); _.template('a'); $.template('not lodash'); a._.template; require('lodash').get({});"
    )
    assert rt.compile(source)["unsupported"] == ["_.debounce", "_.throttle", "_.template"]
    assert rt.compile("pm.sendRequest('x'); _.template('a'); require('fs');")["unsupported"] == [
        "pm.sendRequest",
        "_.template",
        "require('fs')",
    ]


def test_a_missing_name_caught_by_the_script_is_still_reported(rt: Runtime):
    script_id = f"s{next(_ids)}"
    source = "pm.test('a', function () { _.debounce(function () {}, 5); }); pm.test('b', function () { _.noop(); });"
    assert rt.compile(source, script_id)["unsupported"] == ["_.debounce"]
    out = rt.execute(script_id)
    assert out["unsupported"] == "_.debounce"
    assert results(out) == {"a": (False, "Error: not supported by Exile: _.debounce"), "b": (True, None)}


def test_chaining_wraps_until_a_single_value_or_value(rt: Runtime):
    out = rt.run(
        """
var items = pm.response.json().items;
pm.test('implicit', function () { pm.expect(_(items).map('qty').sum()).to.equal(3); });
pm.test('explicit', function () { pm.expect(_.chain(items).map('sku').first().value()).to.equal('a'); });
pm.test('wrapped', function () { pm.expect(_(items).map('sku').value()).to.eql(['a', 'b']); });
"""
    )
    assert results(out) == {"implicit": (True, None), "explicit": (True, None), "wrapped": (True, None)}, out


def test_a_script_cannot_change_lodash_for_later_runs(rt: Runtime):
    first = rt.run(
        """
_.map = function () { return 'hijacked'; };
try { Object.defineProperty(_, 'each', { value: null }); } catch (e) {}
pm.test('unchanged', function () { pm.expect(_.map([1], String)).to.eql(['1']); });
"""
    )
    assert results(first) == {"unchanged": (True, None)}, first
    again = rt.run(
        "pm.test('still', function () { pm.expect(_.map([2], String)).to.eql(['2']); pm.expect(typeof _.each).to.equal('function'); });"
    )
    assert results(again) == {"still": (True, None)}, again


def test_unique_ids_start_again_in_each_run(rt: Runtime):
    script_id = f"s{next(_ids)}"
    rt.compile("pm.environment.set('ids', [_.uniqueId('x'), _.uniqueId('x')]);", script_id)
    assert rt.execute(script_id)["set"] == {"ids": ["x1", "x2"]}
    assert rt.execute(script_id)["set"] == {"ids": ["x1", "x2"]}
