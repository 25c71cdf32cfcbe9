import t from 'tap'
import { leavesTransactionOpen, opensTransaction, refuseTransactionControl } from '../../plugins/postgres/src/open-transaction.js'
import { guard } from '../../plugins/postgres/src/pgbouncer.js'
import { refuseSessionSequence } from '../../plugins/postgres/src/session-sequence.js'
import { blank } from '../../plugins/postgres/src/sql-text.js'

// What PgBouncer transaction mode breaks, refused before sending; what it does not, let through.

const REFUSED: Array<[string, RegExp]> = [
  ['LISTEN jobs', /^LISTEN is refused .*: use a direct connection to the primary/],
  ['  listen "jobs"', /^LISTEN is refused/],
  ['SET statement_timeout = 0', /^A session SET or RESET is refused .*: use SET LOCAL inside fastify\.db\.transaction\(\), or a role default/],
  ['set search_path to app', /^A session SET/],
  ['SET SESSION timezone = \'UTC\'', /^A session SET/],
  ['SELECT 1; SET work_mem = \'1GB\'', /^A session SET/],
  ['RESET ALL', /^A session SET or RESET/],
  // UPDATE pg_settings sets for the session after a WITH clause too.
  ["WITH x AS (SELECT 1) UPDATE pg_settings SET setting = '1' WHERE name = 'work_mem'", /^A session SET or RESET/],
  ["with recursive x as (select 1) update only pg_catalog . pg_settings set setting = '1'", /^A session SET or RESET/],
  ["SELECT set_config('app.user', '1', false)", /^A session SET/],
  ['SELECT pg_advisory_lock(1)', /^A session-level advisory lock is refused .*: use pg_advisory_xact_lock\(\)/],
  ['select PG_TRY_ADVISORY_LOCK_SHARED (1, 2)', /^A session-level advisory lock/],
  ['SELECT pg_advisory_lock_shared($1)', /^A session-level advisory lock/],
  ['PREPARE q AS SELECT 1', /^PREPARE is refused .*: pass the values to query\(text, values\)/],
  ['/* hi */ LISTEN x', /^LISTEN/],
  ['-- comment\nSET x = 1', /^A session SET/],
  // Quoted identifiers name the same functions.
  ['SELECT "pg_advisory_lock"(4242)', /^A session-level advisory lock/],
  ['SELECT pg_catalog."pg_advisory_lock"(1)', /^A session-level advisory lock/],
  ["SELECT \"set_config\"('search_path', 'x', false)", /^A session SET/],
  // One local set_config() does not make another one local.
  ["SELECT set_config('application_name', 'x', true), set_config('search_path', 'x', false)", /^A session SET/],
  ["SELECT set_config('a.b', '1', $1)", /^A session SET/],
  ["SELECT set_config('a.b', '1', 'true')", /^A session SET/],
  ["SELECT set_config('a.b', '1')", /^A session SET/],
  ["UPDATE pg_settings SET setting = 'x' WHERE name = 'search_path'", /^A session SET/],
  ['update pg_catalog.pg_settings set setting = 1', /^A session SET/],
  ['CREATE TEMP TABLE t (a int)', /^A temporary table, view or sequence \(or anything created in pg_temp\) that outlives its transaction is refused .*: create it with ON COMMIT DROP inside fastify\.db\.transaction\(\), or use a regular table/],
  ['create temporary view v as select 1', /^A temporary table/],
  ['CREATE OR REPLACE TEMP VIEW v AS SELECT 1', /^A temporary table/],
  ['CREATE GLOBAL TEMPORARY TABLE t (a int) ON COMMIT PRESERVE ROWS', /^A temporary table/],
  ['SELECT * INTO TEMP t FROM notes', /^A temporary table/],
  ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', /^A cursor WITH HOLD is refused .*: declare the cursor without WITH HOLD inside fastify\.db\.transaction\(\)/],
  ['declare c no scroll cursor with  hold for select 1', /^A cursor WITH HOLD/],
  // PostgreSQL ends a line comment at a carriage return too: what follows runs.
  ["SELECT 1; -- x\rSET application_name = 'leaked'", /^A session SET/],
  ['SELECT 1 -- x\r; LISTEN x', /^LISTEN/],
  // A Unicode-escaped quoted identifier names what its escapes decode to.
  ['SELECT U&"pg\\005fadvisory\\005flock"(4242)', /^A session-level advisory lock/],
  ['SELECT u&"pg\\+00005Fadvisory_lock"(1)', /^A session-level advisory lock/],
  ['SELECT U&"pg!005fadvisory!005flock" UESCAPE \'!\' (1)', /^A session-level advisory lock/],
  ["SELECT U&\"set\\005fconfig\"('search_path', 'x', false)", /^A session SET/],
  // An object created in pg_temp is temporary without the word TEMP.
  ['CREATE TABLE pg_temp.audit_tmp (x int)', /^A temporary table/],
  ['create unlogged table if not exists "pg_temp" . t (x int)', /^A temporary table/],
  ['CREATE VIEW pg_temp_3.v AS SELECT 1', /^A temporary table/],
  ['CREATE OR REPLACE FUNCTION pg_temp.f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql', /^A temporary table/],
  ['CREATE SEQUENCE pg_temp.s', /^A temporary table/],
  ['SELECT * INTO pg_temp.t FROM notes', /^A temporary table/],
  // Every kind of object lives in pg_temp for the session, not only tables, views and functions.
  ["CREATE COLLATION pg_temp.c (provider = libc, locale = 'C')", /^A temporary table/],
  ['CREATE COLLATION IF NOT EXISTS "pg_temp".c FROM "C"', /^A temporary table/],
  ['CREATE OPERATOR pg_temp.=== (leftarg = int, rightarg = int, function = int4eq)', /^A temporary table/],
  ['CREATE TEXT SEARCH CONFIGURATION pg_temp.ts (COPY = english)', /^A temporary table/],
  ['CREATE TEXT SEARCH DICTIONARY pg_temp.d (TEMPLATE = simple)', /^A temporary table/],
  ['CREATE STATISTICS pg_temp.st ON a, b FROM notes', /^A temporary table/],
  ["CREATE CONVERSION pg_temp.cv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8", /^A temporary table/],
  ['CREATE OPERATOR CLASS pg_temp.oc FOR TYPE int USING btree AS OPERATOR 1 <', /^A temporary table/],
  ['CREATE CAST (int AS pg_temp.ty) WITH INOUT', /^A temporary table/],
  ['CREATE VIEW v AS SELECT * FROM pg_temp.t', /^A temporary table/],
  // ON COMMIT DROP drops a table only: it does not excuse another kind.
  ['CREATE VIEW pg_temp.v AS SELECT 1 AS x /* */ ON COMMIT DROP', /^A temporary table/],
  ['SELECT * INTO TABLE pg_temp.t FROM notes', /^A temporary table/],
  // A dollar-quote tag or an identifier may hold non-ASCII letters, and a tag has no length limit.
  ["SELECT $é$'$é$; SET statement_timeout = 1; SELECT '1'", /^A session SET/],
  ['SELECT 1 AS é$$; SET statement_timeout = 1; --$$', /^A session SET/],
  ['SELECT 1 AS a$$x$; SET statement_timeout = 1; SELECT $x$ $x$', /^A session SET/],
  [`SELECT $${'t'.repeat(70)}$'$${'t'.repeat(70)}$; LISTEN x; SELECT '1'`, /^LISTEN/],
  // Where standard_conforming_strings is off, a backslash escapes the quote in a plain string.
  ["SELECT 'x\\' '; SET statement_timeout = 1; SELECT ''", /^A session SET/],
  // A DO block's body is code the text does not show.
  ["DO $$BEGIN PERFORM set_config('statement_timeout', '1', false); END$$", /^A DO block is refused .*: send its statements as queries, inside fastify\.db\.transaction\(\) if they belong together, or make it a function/],
  ["SELECT 1; do 'BEGIN EXECUTE ''SET x = 1''; END'", /^A DO block/],
  // LOCAL, TRANSACTION or CONSTRAINTS before a dot begins a parameter's name.
  ["SET local.user_id = '1'", /^A session SET/],
  ["SET\"local\".user_id = '1'", /^A session SET/],
  ['set transaction . x = 1', /^A session SET/],
  ["SELECT dblink_connect('c', 'dbname=app')", /^A dblink connection kept open by dblink_connect\(\) is refused .*: pass the connection string to dblink\(\) or dblink_exec\(\)/],
  ["select public.DBLINK_CONNECT_U ('dbname=app')", /^A dblink connection/],
  // EXPLAIN ANALYZE runs what it explains.
  ['EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1', /^A temporary table/],
  ['explain (analyze, verbose) verbose create table pg_temp.t as select 1', /^A temporary table/],
  // A loaded library and the random seed stay with the server session.
  ["LOAD 'auto_explain'", /^LOAD of a library is refused .*: load it for every session with shared_preload_libraries or session_preload_libraries/],
  ["SELECT 1;\n  load '$libdir/plugins/x'", /^LOAD of a library/],
  ['SELECT setseed(0.5)', /^setseed\(\) is refused .*: seed nothing on a shared session/],
  ['SELECT pg_catalog."setseed" (0.5), random()', /^setseed\(\)/],
  // A temporary replication slot lives as long as the session, held active (and holding WAL) by it.
  ["SELECT * FROM pg_create_physical_replication_slot('s', true, true)", /^A temporary replication slot is refused .*: create a permanent slot \(temporary => false\) and drop it when done, or use a direct connection to the primary/],
  ["SELECT pg_create_logical_replication_slot('s', 'test_decoding', temporary => true)", /^A temporary replication slot/],
  ["SELECT pg_create_logical_replication_slot('s', 'test_decoding', TRUE, false)", /^A temporary replication slot/],
  ["select PG_CATALOG.pg_create_physical_replication_slot(slot_name => 's', \"temporary\" := $1)", /^A temporary replication slot/],
  ["SELECT pg_create_logical_replication_slot('s', 'test_decoding', f(1, false))", /^A temporary replication slot/],
  // Copied without saying, a slot is as temporary as its source.
  ["SELECT pg_copy_logical_replication_slot('a', 'b')", /^A temporary replication slot/],
  ["SELECT pg_copy_physical_replication_slot('a', 'b', true)", /^A temporary replication slot/],
  ["SELECT pg_copy_logical_replication_slot('a', 'b', temporary => 't')", /^A temporary replication slot/],
  // A replication origin set up for the session, and a backup, belong to the session too.
  ["SELECT pg_replication_origin_session_setup('o')", /^A replication origin set up for the session is refused .*: use a direct connection to the primary/],
  ["SELECT pg_backup_start('b')", /^A backup started on the session \(pg_backup_start\(\), or pg_start_backup\(\) not exclusive\) is refused .*: take backups with pg_basebackup, or on a direct connection to the primary/],
  ["SELECT pg_start_backup('b', true, false)", /^A backup started on the session/],
  ["SELECT pg_start_backup(label => 'b', exclusive => $1)", /^A backup started on the session/]
]

const ALLOWED = [
  'SELECT 1',
  'SELECT random(), loaded, setseed_at FROM t',
  "SELECT 'setseed(1); LOAD x'",
  'SET LOCAL statement_timeout = 100',
  'set local search_path to app',
  'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
  'SET CONSTRAINTS ALL DEFERRED',
  "SELECT set_config('app.user', '1', true)",
  'SELECT pg_advisory_xact_lock(1)',
  "SELECT 'LISTEN x; SET y = 1; pg_advisory_lock(1)'",
  "SELECT E'it\\'s; SET x = 1'",
  'SELECT "SET" FROM t',
  'SELECT $$; LISTEN x $$',
  'SELECT $tag$ pg_advisory_lock( $tag$',
  'SELECT 1 -- ; LISTEN x',
  'SELECT 1 /* ; SET x = 1 /* nested */ still comment */',
  'UPDATE settings SET value = 1',
  'INSERT INTO t (a) VALUES ($1)',
  'SELECT reset_count FROM t',
  "SELECT 'unterminated",
  'SELECT $1::text',
  "SELECT set_config('a.b', '1', true), set_config('c.d', '2', TRUE)",
  "SELECT set_config('a.b', f(1, 2), true)",
  'CREATE TEMP TABLE t (a int) ON COMMIT DROP',
  'CREATE TABLE temp_results (a int)',
  'DECLARE c CURSOR FOR SELECT 1',
  'UPDATE settings_pg SET a = 1',
  'PREPARE TRANSACTION \'tx1\'',
  'SELECT "temp" FROM t',
  'SELECT 1 -- x\rFROM t',
  'SELECT U&"d\\0061t\\+000061" FROM t',
  'SELECT U&"pg\\005fadvisory\\005fxact\\005flock"(1)',
  'CREATE TABLE pg_temp.t (a int) ON COMMIT DROP',
  'CREATE TABLE pg_temp_results (a int)',
  'CREATE TABLE t AS SELECT a FROM pg_temp_view',
  "SELECT 'C:\\dir\\', 'SET x = 1'",
  "SELECT E'\\'' AS \"SET x\"",
  'SELECT 1 AS é, $é$ LISTEN x $é$',
  "SELECT éE'\\', 1",
  'SELECT done FROM t',
  'SELECT 1 AS domain',
  "SET LOCAL app.user_id = '1'",
  'EXPLAIN SELECT 1',
  'EXPLAIN (ANALYZE) CREATE TEMP TABLE t ON COMMIT DROP AS SELECT 1',
  'SELECT explained FROM t',
  "SELECT * FROM dblink('dbname=app', 'SELECT 1') AS t (a int)",
  "SELECT pg_create_physical_replication_slot('s')",
  "SELECT pg_create_physical_replication_slot('s', true)",
  "SELECT pg_create_logical_replication_slot('s', 'test_decoding', false)",
  "SELECT pg_create_logical_replication_slot('s', 'test_decoding', twophase => true)",
  "SELECT pg_create_logical_replication_slot('s', 'test_decoding', temporary => FALSE, twophase => true)",
  "SELECT pg_copy_logical_replication_slot('a', 'b', false, 'pgoutput')",
  "SELECT pg_drop_replication_slot('s'), pg_replication_origin_create('o')",
  "SELECT pg_start_backup('b'), pg_start_backup('b', true, true)",
  "SELECT 'pg_backup_start(1)', pg_backup_stop()"
]

t.test('statements transaction pooling breaks are refused with a coded error naming the safe alternative', async (t) => {
  for (const [sql, message] of REFUSED) {
    t.throws(() => { guard(sql, false) }, { code: 'SCALEOUT_ERR_DB_SESSION_STATE', statusCode: 500, message }, sql)
    t.throws(() => { guard(sql, false) }, { code: 'SCALEOUT_ERR_DB_SESSION_STATE' }, 'the cached verdict too')
  }
})

t.test('statements that leave no session state pass, whatever their strings and comments hold', async (t) => {
  for (const sql of ALLOWED) t.doesNotThrow(() => { guard(sql, false) }, sql)
  t.doesNotThrow(() => { guard({ text: 'SELECT 1' }, false) })
  t.doesNotThrow(() => { guard({ text: 'SELECT 1', name: 'q' }, true) }, 'named statements on PgBouncer 1.21 and later')
  t.doesNotThrow(() => { guard({ text: undefined } as never, false) })
})

t.test('named prepared statements below PgBouncer 1.21 are refused', async (t) => {
  t.throws(() => { guard({ text: 'SELECT 1', name: 'q' }, false) }, {
    code: 'SCALEOUT_ERR_DB_SESSION_STATE',
    message: /^A named prepared statement is refused .*: drop `name` from the query config/
  })
})

t.test('long statements are checked every time, not remembered', async (t) => {
  const long = 'SELECT 1' + ' '.repeat(5000)
  t.doesNotThrow(() => { guard(long, false) })
  t.throws(() => { guard(long + '; LISTEN x', false) }, { code: 'SCALEOUT_ERR_DB_SESSION_STATE' })
  for (let i = 0; i < 1100; i++) guard(`SELECT ${i}`, false)
  t.throws(() => { guard('LISTEN jobs', false) }, { code: 'SCALEOUT_ERR_DB_SESSION_STATE' }, 'after the verdict cache was emptied')
})

t.test('blank() keeps the statement structure and hides data', async (t) => {
  t.equal(blank("SELECT 'a;b', \"c\" FROM t -- x\n; LISTEN y"), 'SELECT  x ,  c  FROM t  \n; LISTEN y')
  t.equal(blank('SELECT "a;b""c" FROM t'), 'SELECT  a_b__c  FROM t', 'a quoted identifier stays one word')
  t.equal(blank('SELECT $x$ a $x$, $1, a$b'), 'SELECT  x , $1, a$b')
  t.equal(blank('SELECT a$$x$, $$ b $$'), 'SELECT a$$x$,  x ', 'a $ after a $ of an identifier is part of it')
  t.equal(blank('SELECT $unterminated$ a'), 'SELECT  x ')
  t.equal(blank("SELECT 'it''s'"), 'SELECT  x ')
  t.equal(blank("SELECT 'a\\', 'b'"), 'SELECT  x ,  x ', 'a backslash escapes nothing in a plain string')
  t.equal(blank("SELECT 'a\\', 'b'", true), 'SELECT  x b x ', 'unless standard_conforming_strings is off')
  t.equal(blank("SELECT e'a\\'', 1, éE'a\\', 2"), 'SELECT e x , 1, éE x , 2', 'E after a non-ASCII letter ends an identifier, not an escape string prefix')
  t.equal(blank('SELECT $é$ a $é$, é$$, $ü1$ b $ü1$'), 'SELECT  x , é$$,  x ', 'non-ASCII letters in tags and identifiers')
  t.equal(blank('/* a /* b */ c */x'), ' x')
  t.equal(blank('SELECT 1 -- x\rBEGIN'), 'SELECT 1  \rBEGIN', 'a line comment ends at a carriage return')
  t.equal(blank('SELECT U&"d\\0061t\\+000061", U&"a\\\\b", U&"x!0041" UESCAPE \'!\''), 'SELECT U& data , U& a_b , U& xA ', 'U&"..." decodes to the name it spells')
  t.equal(blank('SELECT U&"bad\\+110000\\zz"'), 'SELECT U& bad_zz ', 'an escape PostgreSQL would refuse stands for some character')
})

t.test('a text that ends inside a transaction is told from one that ends it', async (t) => {
  const open = ['BEGIN', 'begin work', 'SELECT 1; -- note\rBEGIN', 'START TRANSACTION', 'COMMIT; BEGIN', 'BEGIN; COMMIT AND CHAIN', 'BEGIN; ROLLBACK AND CHAIN', 'BEGIN; ROLLBACK TO SAVEPOINT a', 'BEGIN; SAVEPOINT a; COMMIT PREPARED \'x\'']
  const closed = ['SELECT 1', 'BEGIN; SELECT 1; COMMIT', 'begin; select 1; end', 'BEGIN; ABORT', 'BEGIN; ROLLBACK', 'BEGIN; PREPARE TRANSACTION \'x\'', 'BEGIN; COMMIT AND NO CHAIN',
    "SELECT 'BEGIN'", 'SELECT 1 -- BEGIN', 'SELECT 1 -- x\nBEGIN; COMMIT', 'DO $$ BEGIN PERFORM 1; END $$', 'SELECT "begin" FROM t', 'SELECT beginning FROM t', 'COMMIT']
  for (const sql of open) t.equal(leavesTransactionOpen(sql), true, sql)
  for (const sql of closed) t.equal(leavesTransactionOpen(sql), false, sql)
})

t.test('regression: the END of a BEGIN ATOMIC function body does not count as ending the text\'s transaction', async (t) => {
  const body = 'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END'
  t.equal(leavesTransactionOpen(`BEGIN; ${body}`), true, 'its END closes the body, not the transaction')
  t.equal(leavesTransactionOpen(`BEGIN; ${body}; COMMIT`), false)
  t.equal(leavesTransactionOpen('begin; CREATE PROCEDURE p() LANGUAGE sql begin atomic end; end'), false, 'an empty body, then END of the transaction')
  t.equal(leavesTransactionOpen('BEGIN; CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC END'), true)
  t.equal(leavesTransactionOpen(body), false, 'a body alone opens nothing')
  t.equal(opensTransaction(body), false)
  t.equal(leavesTransactionOpen(`${body}; BEGIN`), true, 'a BEGIN after the body counts')
})

t.test('regression: only the BEGIN ATOMIC of a CREATE FUNCTION or CREATE PROCEDURE opens a body: a table named begin with the alias atomic does not hide the BEGIN after it', async (t) => {
  // PostgreSQL runs `SELECT 1 FROM begin atomic` (table "begin", alias atomic), then the BEGIN: the connection was left inside it.
  t.equal(leavesTransactionOpen('SELECT 1 FROM begin atomic; BEGIN; SELECT 1'), true)
  t.equal(leavesTransactionOpen('CREATE VIEW v AS SELECT 1 FROM begin atomic; BEGIN; SELECT 1; END'), false, 'its END is the transaction\'s')
  t.equal(leavesTransactionOpen('CREATE VIEW v AS SELECT 1 FROM begin atomic; BEGIN'), true)
  t.equal(leavesTransactionOpen('CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN (SELECT x FROM begin atomic); BEGIN; SELECT 1; END'), false, 'in parentheses it opens no body')
  t.equal(leavesTransactionOpen('CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN (SELECT x FROM begin atomic); BEGIN'), true)
  t.equal(leavesTransactionOpen('BEGIN; create or replace procedure p() language sql begin atomic select 1; select 2; end'), true, 'a procedure\'s body as a function\'s')
  t.equal(leavesTransactionOpen('BEGIN; CREATE FUNCTION "f"(a int) RETURNS TABLE (b int) LANGUAGE sql BEGIN ATOMIC SELECT a; END; COMMIT'), false)
})

t.test('regression: a SQL-standard function body that calls currval() or lastval() is not a call, so creating the function is not refused', async (t) => {
  const bodies = [
    "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT currval('s'); END",
    'CREATE OR REPLACE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT lastval(); END',
    "create procedure p() language sql begin atomic select currval('s'); end",
    "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql RETURN currval('s')",
    "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT currval('s'); END; SELECT 1",
    "BEGIN; CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT currval('s'); END; COMMIT"
  ]
  for (const sql of bodies) t.doesNotThrow(() => { refuseSessionSequence(sql) }, sql)
  // What runs around the body is still read: a call after its END, or outside a CREATE FUNCTION.
  const calls = [
    'CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT lastval()',
    'CREATE FUNCTION f() RETURNS bigint LANGUAGE sql RETURN 1; SELECT lastval()',
    'CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC END; SELECT lastval()',
    'SELECT 1 FROM begin atomic; SELECT lastval(); END',
    'CREATE VIEW v AS SELECT 1 FROM begin atomic; SELECT lastval(); END',
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN (SELECT x FROM begin atomic); SELECT currval('s'); END"
  ]
  for (const sql of calls) t.throws(() => { refuseSessionSequence(sql) }, { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE' }, sql)
})

t.test('regression: a text that opens a transaction only where standard_conforming_strings is off (a backslash escaping a quote) is read as leaving it open', async (t) => {
  // With it on, the BEGIN is inside the string; with it off (a role default), `\'` ends nothing and BEGIN runs.
  t.equal(leavesTransactionOpen("SELECT '\\''; BEGIN; --'"), true)
  t.equal(leavesTransactionOpen("BEGIN; SELECT 'x\\'; COMMIT; --'"), true, 'its COMMIT inside the string')
  t.equal(leavesTransactionOpen("SELECT 'a\\b'"), false, 'a backslash alone changes nothing')
})

t.test('a text with a statement that opens a transaction is told apart: its connection is closed when the text fails', async (t) => {
  for (const sql of ['BEGIN; INSERT INTO t VALUES (1); COMMIT', 'start transaction; select 1; commit', "SELECT '\\''; BEGIN; --'", { text: 'BEGIN; SELECT 1 / 0; COMMIT' }]) t.equal(opensTransaction(sql), true, JSON.stringify(sql))
  for (const sql of ['SELECT 1 / 0', "SELECT 'BEGIN'", 'SELECT 1 -- BEGIN', 'SELECT start FROM t', { text: 'COMMIT' }, { text: undefined } as never]) t.equal(opensTransaction(sql), false, JSON.stringify(sql))
})

t.test('currval() and lastval() outside a transaction are refused, named as PostgreSQL reads names, behind PgBouncer or not', async (t) => {
  const refused: Array<[string, string]> = [
    ['SELECT lastval()', 'lastval'],
    ["select CURRVAL('notes_id_seq')", 'currval'],
    ['SELECT LastVal\n (\n)', 'lastval'],
    ['SELECT "lastval"()', 'lastval'],
    ['SELECT pg_catalog.lastval()', 'lastval'],
    ["SELECT pg_catalog . \"currval\" ('s')", 'currval'],
    ['SELECT U&"l\\0061stval"()', 'lastval'],
    ["SELECT id FROM notes WHERE id = currval('notes_id_seq'::regclass)", 'currval'],
    // One text runs on one connection, but what its earlier statements call nextval() for is not in the text.
    ["INSERT INTO notes (body) VALUES ('x'); SELECT lastval()", 'lastval'],
    ["SELECT nextval('s'), currval('s')", 'currval'],
    // Where standard_conforming_strings is off, the call is outside the string.
    ["SELECT 'x\\' '; SELECT lastval(); SELECT ''", 'lastval']
  ]
  for (const [sql, name] of refused) {
    const message = new RegExp(`^${name}\\(\\) is refused outside fastify\\.db\\.transaction\\(\\): it answers for the server session that runs it, .* could return another caller's id or fail as not yet defined in this session; use INSERT \\.\\.\\. RETURNING id, or run both statements inside fastify\\.db\\.transaction\\(\\)$`)
    t.throws(() => { refuseSessionSequence(sql) }, { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE', statusCode: 500, message }, sql)
    t.throws(() => { refuseSessionSequence({ text: sql }) }, { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE' }, `${sql} as a query config`)
  }
  const allowed = [
    'SELECT 1',
    "INSERT INTO notes (body) VALUES ('x') RETURNING id",
    "SELECT nextval('notes_id_seq')",
    "SELECT 'lastval()'",
    'SELECT 1 -- lastval()',
    '/* currval( */ SELECT 1',
    'SELECT $$ lastval() $$',
    'SELECT $q$ currval( $q$',
    "SELECT E'\\' lastval()'",
    'SELECT my_lastval(), currval_of(1), a$lastval(), élastval()',
    'SELECT lastval, "currval" FROM t',
    'SELECT "not lastval"()',
    'SELECT U&"d\\0061t\\0061" FROM t',
    "SELECT 'C:\\dir\\', 'x'"
  ]
  for (const sql of allowed) t.doesNotThrow(() => { refuseSessionSequence(sql) }, sql)
  t.doesNotThrow(() => { refuseSessionSequence({ text: undefined } as never) })
})

t.test('statements that end the transaction are told apart inside transaction(): the words in data, a savepoint\'s and a function body\'s do not count', async (t) => {
  for (const sql of ['COMMIT', 'end', 'SELECT 1; ROLLBACK', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'x'", "SELECT 'x\\' '; COMMIT; SELECT ''", { text: 'ABORT' }]) {
    t.throws(() => { refuseTransactionControl(sql) }, { code: 'SCALEOUT_ERR_DB_TRANSACTION_CONTROL', statusCode: 500 }, JSON.stringify(sql))
  }
  for (const sql of ['SELECT 1', 'ROLLBACK TO SAVEPOINT a', 'RELEASE SAVEPOINT a', "SELECT 'commit'", 'SELECT 1 -- ROLLBACK', 'SELECT "end" FROM t', "COMMIT PREPARED 'x'", "ROLLBACK PREPARED 'x'", 'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END', "SELECT 'a\\b'", { text: undefined } as never]) {
    t.doesNotThrow(() => { refuseTransactionControl(sql) }, JSON.stringify(sql))
  }
})
