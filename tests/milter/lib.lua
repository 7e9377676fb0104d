-- Helpers shared by the milter protocol scripts (loaded with dofile).
-- Globals from miltertest -D: sock (milter socket), helpers (this file).

-- miltertest does not print uncaught errors: say what failed, then stop.
function fail(msg)
	mt.echo("FAIL: " .. msg)
	error(msg, 3)
end

function expect(conn, want, what)
	local got = mt.getreply(conn)
	if got ~= want then
		fail(string.format("%s: reply %q, want %q", what,
		    string.char(got), string.char(want)))
	end
end

function ok(r, what)
	if r ~= nil then
		fail(what .. ": " .. tostring(r))
	end
end

-- A connection from IP (default 127.0.0.1); CONNECT macros as a table.
function open(ip, macros)
	local conn = mt.connect(sock, 40, 0.25)
	if conn == nil then
		fail("cannot connect to " .. sock)
	end
	if macros ~= nil then
		mt.macro(conn, SMFIC_CONNECT, table.unpack(macros))
	end
	ok(mt.conninfo(conn, "client.example", ip or "127.0.0.1"), "conninfo")
	return conn
end

-- MAIL FROM with the queue id and, if given, a SASL login.
function mail(conn, from, qid, auth)
	if auth ~= nil then
		mt.macro(conn, SMFIC_MAIL, "i", qid or "", "{auth_authen}", auth)
	else
		mt.macro(conn, SMFIC_MAIL, "i", qid or "")
	end
	ok(mt.mailfrom(conn, from), "mailfrom " .. from)
end

-- MAIL's answer WANT.  Negotiated without a reply (SMFIP_NR_MAIL, as
-- Postfix offers it) the filter gives it at the first RCPT: MAIL must
-- have no reply, and for an answer other than CONTINUE RCPT TO (default
-- <probe@example.net>) is sent to see it.
function expect_mail(conn, want, what, to)
	if not mt.test_option(conn, SMFIP_NR_MAIL) then
		expect(conn, want, what)
		return
	end
	expect(conn, SMFIR_CONTINUE, what .. " (MAIL: no reply)")
	if want ~= SMFIR_CONTINUE then
		rcpt(conn, to or "<probe@example.net>")
		expect(conn, want, what .. " (given at the first RCPT)")
	end
end

function rcpt(conn, to)
	ok(mt.rcptto(conn, to), "rcptto " .. to)
end

function hdr(conn, name, value)
	if not mt.test_option(conn, SMFIP_NOHDRS) then
		ok(mt.header(conn, name, value), "header " .. name)
	end
end

function eoh(conn)
	if not mt.test_option(conn, SMFIP_NOEOH) then
		ok(mt.eoh(conn), "eoh")
	end
end

function data(conn)
	ok(mt.data(conn), "data")
end

function body(conn)
	if not mt.test_option(conn, SMFIP_NOBODY) then
		ok(mt.bodystring(conn, "Hello.\r\n"), "body")
	end
end

function eom(conn)
	ok(mt.eom(conn), "eom")
end

function deleted(conn, addr)
	return mt.eom_check(conn, MT_RCPTDELETE, addr)
end

function must(cond, what)
	if not cond then
		fail("check failed: " .. what)
	end
end
