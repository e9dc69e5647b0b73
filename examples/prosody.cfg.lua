-- examples/prosody.cfg.lua - a Prosody (0.12) XMPP server with Parley (parleyd) as a component.
--
-- Used unchanged by Parley's integration tests (tests/integration/harness.py) and by
-- scripts/sandbox, so it cannot rot. Everything that differs between deployments is read from
-- the environment, with the default shown:
--
--   PROSODY_BASE            directory for data, pid file and certs   /var/lib/prosody-parley
--   PROSODY_LISTEN_IP       address of every listener                127.0.0.1
--   PROSODY_C2S_PORT        client port                              5222
--   PROSODY_COMPONENT_PORT  XEP-0114 component port (parleyd)        5347
--   PROSODY_DOMAIN          the XMPP users' domain (VirtualHost)     xmpp.test
--   PARLEY_COMPONENTS       parleyd's component domain(s), ';'-sep.  sip.test;gw.xmpp.test
--   PARLEY_SECRET           the component secret ([xmpp] secret)     changeme
--   PROSODY_LOGLEVEL        debug | info | warn | error              info
--   PROSODY_TLS_KEY/_CERT   key and certificate for STARTTLS         (none: plain c2s only)
--
-- Users: prosodyctl --config prosody.cfg.lua register juliet xmpp.test PASSWORD
-- Run:   prosody --config prosody.cfg.lua -F      (foreground, logs to stdout)
--
-- Deliberately absent: the `limits` module (Debian's stock config throttles each client to
-- ~10 KB/s, which makes page-mode tests and benchmarks measure the throttle), s2s, HTTP.
-- Without PROSODY_TLS_* the c2s port accepts PLAIN authentication over plain TCP: keep it on
-- loopback.

local base = os.getenv("PROSODY_BASE") or "/var/lib/prosody-parley"
local listen_ip = os.getenv("PROSODY_LISTEN_IP") or "127.0.0.1"
local xmpp_domain = os.getenv("PROSODY_DOMAIN") or "xmpp.test"
local components = os.getenv("PARLEY_COMPONENTS") or "sip.test;gw.xmpp.test"
local secret = os.getenv("PARLEY_SECRET") or "changeme"
local tls_key = os.getenv("PROSODY_TLS_KEY")
local tls_cert = os.getenv("PROSODY_TLS_CERT")

pidfile = base .. "/prosody.pid"
data_path = base .. "/data"
certificates = base .. "/certs"
daemonize = false
-- the tests and the sandbox run it as root, without dropping privileges (mod_posix off)
run_as_root = true

log = { { levels = { min = os.getenv("PROSODY_LOGLEVEL") or "info" }, to = "console" } }

interfaces = { listen_ip }
local_interfaces = { listen_ip }
c2s_ports = { tonumber(os.getenv("PROSODY_C2S_PORT") or "5222") }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { tonumber(os.getenv("PROSODY_COMPONENT_PORT") or "5347") }
component_interfaces = { listen_ip }
http_ports = { }
https_ports = { }

-- (options cannot be read back inside this file, so the list is built in a local first)
local modules = {
    "roster"; "saslauth"; "disco"; "ping"; "offline"; "version"; "time"; "uptime";
    "blocklist"; "carbons";
}
if tls_key and tls_cert then
    modules[#modules + 1] = "tls"
end
modules_enabled = modules
modules_disabled = { "s2s"; "http"; "posix" }

allow_registration = false
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

VirtualHost (xmpp_domain)
    if tls_key and tls_cert then
        ssl = { key = tls_key; certificate = tls_cert }
    end

-- parleyd connects here; one Component per configured domain (direct and/or escaped mode)
for domain in components:gmatch("[^;%s]+") do
    Component (domain)
        component_secret = secret
end
