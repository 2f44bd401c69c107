#!/usr/bin/env python3
"""Validates condense's deployment files without Docker or a cluster.

    /usr/bin/python3 deploy/check.py

Checks, from the repository root this file sits in:
  - every YAML file under deploy/ and docker-compose.yml parses (all
    documents; a key given twice in one mapping is an error);
  - docker-compose.yml: the services (server, two workers, prometheus,
    grafana), images or builds, build contexts and Dockerfiles, bind mounts,
    named volumes, secrets and their files, depends_on, ports, the server's
    token file, grace periods, and that Prometheus and Grafana point at the
    right services and mounts;
  - Kubernetes: every file a kustomization names exists, overlays build on
    the base, and (with kubectl) `kubectl kustomize` renders each overlay into
    objects with the expected shape: one server replica, gRPC probes, scrape
    annotations, resources, non-root security contexts, grace periods, GPUs;
  - Dockerfiles: COPY/ADD sources exist in the build context and are not
    excluded by .dockerignore, the final stage runs as a non-root USER, the
    server image has a gRPC HEALTHCHECK, no -dev packages in runtime stages;
  - the token files: format and the workers' token having the worker role;
  - Grafana: the dashboard JSON, a query in every panel, datasources;
  - every metric name, label name and state/code value in dashboard queries
    and alert rules is one condense-server exports (read from
    server/server_metrics.cc and server/metrics/*.cc);
  - every alert has a severity, a summary and a runbook_url naming a section
    of docs/operations.md, and alerts_test.yml makes every alert fire;
  - promtool check config, check rules and test rules.

Prints what it checked; exits 1 with a list of problems when anything is
wrong, 2 when it cannot run (no PyYAML: install Debian's python3-yaml).
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write(
        "deploy/check.py: PyYAML is missing for %s; install Debian's "
        "python3-yaml (apt-get install python3-yaml)\n" % sys.executable)
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
SERVER_DOCKERFILE = "deploy/docker/Dockerfile"
SHUTDOWN_GRACE_DEFAULT = 30.0  # condense-server --shutdown-grace default
GRPC_DRAIN_SECONDS = 5.0  # server->Shutdown deadline after the grace


# --------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self):
        self.problems = []
        self.checks = 0
        self.section_name = ""

    def section(self, name):
        self.section_name = name
        print("\n== %s" % name)

    def ok(self, what):
        self.checks += 1
        print("  ok    %s" % what)

    def note(self, what):
        print("  note  %s" % what)

    def fail(self, what):
        self.checks += 1
        self.problems.append("%s: %s" % (self.section_name, what))
        print("  FAIL  %s" % what)

    def check(self, condition, ok_text, fail_text=None):
        if condition:
            self.ok(ok_text)
        else:
            self.fail(fail_text or ok_text)
        return condition


R = Report()


def rel(path):
    return os.path.relpath(path, ROOT)


# --------------------------------------------------------------------------
# YAML


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, "key %r given twice" % (key,), key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader)]


def check_yaml_files():
    R.section("YAML files")
    files = sorted(
        glob.glob(os.path.join(DEPLOY, "**", "*.yml"), recursive=True) +
        glob.glob(os.path.join(DEPLOY, "**", "*.yaml"), recursive=True))
    if os.path.exists(COMPOSE):
        files.append(COMPOSE)
    else:
        R.fail("docker-compose.yml is missing")
    parsed = {}
    for path in files:
        try:
            docs = load_yaml_documents(path)
        except (yaml.YAMLError, OSError) as e:
            R.fail("%s does not parse: %s" % (rel(path), e))
            continue
        docs = [d for d in docs if d is not None]
        if not docs:
            R.fail("%s has no YAML document" % rel(path))
            continue
        parsed[path] = docs
        R.ok("%s parses (%d document%s)" %
             (rel(path), len(docs), "" if len(docs) == 1 else "s"))
    return parsed


# --------------------------------------------------------------------------
# What condense-server exports, read from its sources


def strip_cpp_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def matching_brace(text, start):
    """Index just past the bracket closing the one at text[start]."""
    opening = text[start]
    closing = {"{": "}", "(": ")"}[opening]
    depth = 0
    in_string = False
    i = start
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


class ExportedMetrics:
    """Series names, their label names, and known label values."""

    def __init__(self):
        self.series = {}  # series name -> set of label names
        self.kinds = {}  # family name -> counter | gauge | histogram
        self.values = {}  # label name -> set of values the server uses
        self.recorded = set()  # names made by recording rules


def read_exported_metrics():
    R.section("Metric families exported by condense-server")
    sources = [os.path.join(ROOT, "server", "server_metrics.cc")] + sorted(
        p for p in glob.glob(os.path.join(ROOT, "server", "metrics", "*.cc"))
        if not p.endswith("_test.cc"))
    exported = ExportedMetrics()
    family_re = re.compile(
        r"Add(Counter|Gauge|Histogram)(?:Collector)?\s*\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
    for path in sources:
        if not os.path.exists(path):
            R.fail("%s is missing: cannot read the metric families" % rel(path))
            continue
        with open(path, encoding="utf-8") as f:
            text = strip_cpp_comments(f.read())
        if re.search(r"\bint\s+main\s*\(", text):
            # A program of its own (metrics_sample_dump.cc registers made-up
            # families for promtool's linter), not the server's registry.
            R.note("%s is a program, not the server: its families are skipped" % rel(path))
            continue
        for m in family_re.finditer(text):
            kind, name = m.group(1).lower(), m.group(2)
            # The label list is the first brace after the name: after the
            # help string(s), before buckets or the collector lambda.
            brace = text.find("{", m.end())
            labels = set()
            if brace != -1:
                labels = set(re.findall(r"\"([a-zA-Z_][a-zA-Z0-9_]*)\"",
                                        text[brace:matching_brace(text, brace)]))
            exported.kinds[name] = kind
            if kind == "histogram":
                series = {name + "_bucket": labels | {"le"},
                          name + "_sum": labels, name + "_count": labels}
            else:
                series = {name: labels}
            for series_name, series_labels in series.items():
                exported.series.setdefault(series_name, set()).update(series_labels)
        if "GrpcCodeLabel" in text:
            start = text.find("const char* GrpcCodeLabel(")
            if start != -1:
                body = text[start:matching_brace(text, text.find("{", start))]
                exported.values["grpc_code"] = set(
                    re.findall(r"return\s+\"([A-Za-z]+)\"", body))
        if "TypeLabel(" in text:
            start = text.find("const char* TypeLabel(")
            if start != -1:
                body = text[start:matching_brace(text, text.find("{", start))]
                exported.values["grpc_type"] = set(
                    re.findall(r"return\s+\"([a-z_]+)\"", body))
        if path.endswith("server_metrics.cc"):
            # StateLabel lowercases v1::Job::State names.
            exported.values["state"] = {
                s.lower() for s in re.findall(
                    r"v1::Job::(QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELLED)", text)}
    exported.series["up"] = set()
    if len(exported.kinds) < 10:
        R.fail("found only %d metric families in %s: the registration calls "
               "changed; update read_exported_metrics() in deploy/check.py" %
               (len(exported.kinds), ", ".join(rel(p) for p in sources)))
    else:
        R.ok("%d families: %s" % (len(exported.kinds), ", ".join(
            "%s (%s)" % (n, k) for n, k in sorted(exported.kinds.items()))))
    for label in ("grpc_code", "grpc_type", "state"):
        if exported.values.get(label):
            R.ok("values of %s: %s" % (label, " ".join(sorted(exported.values[label]))))
        else:
            R.fail("could not read the values of label %s from the sources" % label)
    return exported


# --------------------------------------------------------------------------
# PromQL: the names an expression uses

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan", "atan2",
}
GROUPING_RE = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER_RE = re.compile(
    r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")
TOKEN_RE = re.compile(
    r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|[a-zA-Z_:][a-zA-Z0-9_:]*")


def parse_promql(expr):
    """(metric names, grouping label names, [(metric, label, op, value)])."""
    # Grafana variables ($__rate_interval, ${datasource}) stand for values.
    text = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "5m", expr)
    matchers = []
    # Selectors: `name{...}` or a bare `{...}`.
    def take_selector(m):
        name = m.group(1) or ""
        for label, op, value in MATCHER_RE.findall(m.group(2)):
            matchers.append((name, label, op, value))
        return name + " "
    text = re.sub(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}", take_selector, text)
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"", '""', text)  # other strings
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    grouping = set()
    def take_grouping(m):
        grouping.update(x.strip() for x in m.group(2).split(",") if x.strip())
        return " "
    text = GROUPING_RE.sub(take_grouping, text)
    names = set()
    for m in TOKEN_RE.finditer(text):
        token = m.group(0)
        if token[0].isdigit() or token.lower() in PROMQL_KEYWORDS:
            continue
        rest = text[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or an aggregation
        names.add(token)
    names.update(n for n, _, _, _ in matchers if n)
    for _, label, op, value in matchers:
        if label == "__name__" and op == "=":
            names.add(value)
    return names, grouping, matchers


def check_promql(where, expr, exported):
    """Checks one expression; returns the number of problems."""
    if not isinstance(expr, str) or not expr.strip():
        R.fail("%s: empty expression" % where)
        return 1
    names, grouping, matchers = parse_promql(expr)
    known = exported.series
    bad = 0
    if not names:
        R.fail("%s: no metric name found in %r" % (where, expr))
        return 1
    for name in sorted(names):
        if name not in known and name not in exported.recorded:
            R.fail("%s: metric %s is not exported by condense-server "
                   "(server/server_metrics.cc, server/metrics/*.cc)" % (where, name))
            bad += 1
    labels_here = {"job", "instance"}
    for name in names:
        labels_here |= known.get(name, set())
    for label in sorted(grouping):
        if label not in labels_here:
            R.fail("%s: groups by label %s, which none of %s has" %
                   (where, label, ", ".join(sorted(names))))
            bad += 1
    for name, label, op, value in matchers:
        if label == "__name__":
            continue
        allowed = (known.get(name, set()) | {"job", "instance"}) if name else labels_here
        if label not in allowed:
            R.fail("%s: %s has no label %s" % (where, name or "selector", label))
            bad += 1
            continue
        values = exported.values.get(label)
        if not values:
            continue
        if op in ("=", "!="):
            wanted = [value] if value else []
        elif re.fullmatch(r"[A-Za-z0-9_|]+", value):
            wanted = value.split("|")
        else:
            wanted = []
        for v in wanted:
            if v not in values:
                R.fail("%s: %s=%r is never exported; the server uses %s" %
                       (where, label, v, ", ".join(sorted(values))))
                bad += 1
    return bad


# --------------------------------------------------------------------------
# Compose

INTERPOLATION_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\$")


def interpolate(value, where):
    """Compose's ${VAR:-default} with the environment, else the default."""
    if not isinstance(value, str):
        return value
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1), m.group(2), m.group(3)
        env = os.environ.get(name)
        if op in (":-", ":?"):
            if env:
                return env
        elif op in ("-", "?"):
            if env is not None:
                return env
        elif env is not None:
            return env
        if op in (":-", "-"):
            return default
        R.fail("%s: ${%s} is unset and has no default" % (where, name))
        return ""
    return INTERPOLATION_RE.sub(sub, value)


def flag_value(args, flag):
    """The value of --flag=V or --flag V in an argument list, else None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


def command_args(command):
    if isinstance(command, list):
        args = [str(a) for a in command]
    elif isinstance(command, str):
        args = command.split()
    else:
        return []
    # sh -c 'CMD ...': look inside the script as well.
    if len(args) >= 3 and args[0] in ("sh", "bash", "/bin/sh") and args[1] == "-c":
        args = args[:2] + args[2].split()
    return args


def parse_duration(text):
    """Compose durations: 1m30s, 60s, 1.5m; None when unparsable."""
    if text is None:
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text).replace(" ", ""):
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(n) * scale[u] for n, u in parts)


PORT_RE = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9.]+|[a-zA-Z0-9.-]+):)?"
    r"(?P<host>\d+(?:-\d+)?)?:)?(?P<container>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp|sctp))?$")


def valid_port_number(text):
    for part in str(text).split("-"):
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            return False
    return True


def read_token_file(path, where):
    """{token: (tenant, worker)} from a token file, reporting format errors."""
    tokens = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        R.fail("%s: cannot read %s: %s" % (where, rel(path), e))
        return tokens
    return parse_token_lines(lines, "%s (%s)" % (where, rel(path)))


def parse_token_lines(lines, where):
    tokens = {}
    good = True
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        worker = len(fields) == 3 and fields[2] == "worker"
        if len(fields) not in (2, 3) or (len(fields) == 3 and not worker):
            R.fail("%s line %d: expected `TOKEN TENANT` or `TOKEN TENANT worker`"
                   % (where, number))
            good = False
        elif len(fields[0]) < 16:
            R.fail("%s line %d: token shorter than 16 characters" % (where, number))
            good = False
        elif fields[0] in tokens:
            R.fail("%s line %d: token listed twice" % (where, number))
            good = False
        else:
            tokens[fields[0]] = (fields[1], worker)
    if good:
        R.check(tokens, "%s: %d token(s) in the server's format" % (where, len(tokens)),
                "%s: no token at all" % where)
    return tokens


def check_worker_token(token, tokens, where):
    token = (token or "").strip()
    if not token:
        R.fail("%s: the workers' token is empty" % where)
    elif token not in tokens:
        R.fail("%s: the workers' token is not in the server's token file" % where)
    elif not tokens[token][1]:
        R.fail("%s: the workers' token lacks the `worker` role in the token file" % where)
    else:
        R.ok("%s: the workers' token is in the token file with the worker role" % where)


def image_healthcheck(dockerfile):
    """True when the Dockerfile's final stage has a HEALTHCHECK CMD."""
    try:
        stages = parse_dockerfile(dockerfile)
    except OSError:
        return False
    return bool(stages) and any(
        i == "HEALTHCHECK" and not a.strip().upper().startswith("NONE")
        for i, a in stages[-1]["instructions"])


def check_compose(parsed, exported):
    R.section("docker-compose.yml")
    docs = parsed.get(COMPOSE)
    if not docs:
        R.fail("docker-compose.yml did not parse; nothing to check")
        return
    compose = docs[0]
    base = os.path.dirname(COMPOSE)
    services = compose.get("services") or {}
    volumes = compose.get("volumes") or {}
    secrets = compose.get("secrets") or {}
    configs = compose.get("configs") or {}
    if not isinstance(services, dict) or not services:
        R.fail("no services")
        return

    def commands(name):
        return command_args((services.get(name) or {}).get("command"))

    workers = [n for n in services if "condense-worker" in commands(n)]
    R.check("server" in services and "condense-server" in commands("server"),
            "service server runs condense-server")
    R.check(len(workers) >= 2, "%d worker services run condense-worker (%s)" %
            (len(workers), ", ".join(workers)), "fewer than two worker services")
    for name in ("prometheus", "grafana"):
        R.check(name in services, "service %s exists" % name)

    healthy = {}
    for name, svc in services.items():
        where = "service %s" % name
        if not isinstance(svc, dict):
            R.fail("%s is not a mapping" % where)
            continue
        R.check("image" in svc or "build" in svc, "%s has an image or a build" % where,
                "%s has neither image nor build" % where)
        build = svc.get("build")
        dockerfile_path = None
        if build is not None:
            if isinstance(build, str):
                build = {"context": build}
            context = os.path.normpath(os.path.join(base, interpolate(build.get("context", "."), where)))
            dockerfile = interpolate(build.get("dockerfile", "Dockerfile"), where)
            dockerfile_path = os.path.normpath(os.path.join(context, dockerfile))
            R.check(os.path.isdir(context), "%s: build context %s exists" % (where, rel(context)))
            R.check(os.path.isfile(dockerfile_path),
                    "%s: Dockerfile %s exists" % (where, rel(dockerfile_path)))
        hc = svc.get("healthcheck")
        if isinstance(hc, dict) and hc.get("disable"):
            healthy[name] = False
        elif isinstance(hc, dict) and hc.get("test"):
            healthy[name] = True
        else:
            healthy[name] = bool(dockerfile_path) and image_healthcheck(dockerfile_path)

        for vol in svc.get("volumes") or []:
            if isinstance(vol, str):
                parts = interpolate(vol, where).split(":")
                if len(parts) == 1:
                    continue  # anonymous volume
                source = parts[0]
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            else:
                source = interpolate(vol.get("source", ""), where)
                kind = vol.get("type", "volume")
            if kind == "bind":
                path = os.path.normpath(os.path.join(base, os.path.expanduser(source)))
                R.check(os.path.exists(path), "%s: bind mount source %s exists" % (where, rel(path)))
            elif kind == "volume" and source:
                R.check(source in volumes, "%s: named volume %s is declared" % (where, source))

        for kind, declared in (("secrets", secrets), ("configs", configs)):
            for ref in svc.get(kind) or []:
                ref_name = ref if isinstance(ref, str) else ref.get("source")
                R.check(ref_name in declared, "%s: %s %s is declared" %
                        (where, kind[:-1], ref_name))

        depends = svc.get("depends_on") or []
        if isinstance(depends, dict):
            items = depends.items()
        else:
            items = [(d, {}) for d in depends]
        for target, how in items:
            R.check(target in services, "%s: depends_on %s exists" % (where, target))
            condition = (how or {}).get("condition", "service_started")
            R.check(condition in ("service_started", "service_healthy",
                                  "service_completed_successfully"),
                    "%s: depends_on %s condition %s" % (where, target, condition))
            if condition == "service_healthy" and target in services:
                hc_target = (services[target] or {}).get("healthcheck")
                has = (isinstance(hc_target, dict) and hc_target.get("test")
                       and not hc_target.get("disable"))
                target_build = (services[target] or {}).get("build")
                if not has and target_build is not None:
                    if isinstance(target_build, str):
                        target_build = {"context": target_build}
                    df = os.path.join(base, target_build.get("context", "."),
                                      target_build.get("dockerfile", "Dockerfile"))
                    has = image_healthcheck(os.path.normpath(df))
                R.check(has, "%s: waits for %s to be healthy, and %s has a healthcheck"
                        % (where, target, target))

        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                good = valid_port_number(port.get("target", "")) and (
                    "published" not in port or valid_port_number(port["published"]))
                text = json.dumps(port)
            else:
                text = interpolate(str(port), where)
                m = PORT_RE.match(text)
                good = bool(m) and valid_port_number(m.group("container")) and (
                    m.group("host") is None or valid_port_number(m.group("host")))
            R.check(good, "%s: port %s is well formed" % (where, text))

        if "stop_grace_period" in svc:
            R.check(parse_duration(svc["stop_grace_period"]) is not None,
                    "%s: stop_grace_period %s parses" % (where, svc["stop_grace_period"]))

    for kind, declared in (("secret", secrets), ("config", configs)):
        for name, spec in declared.items():
            if isinstance(spec, dict) and "file" in spec:
                path = os.path.normpath(os.path.join(base, interpolate(spec["file"], kind)))
                R.check(os.path.isfile(path), "%s %s: file %s exists" % (kind, name, rel(path)))
    for name in volumes:
        used = any(
            (isinstance(v, str) and v.split(":")[0] == name) or
            (isinstance(v, dict) and v.get("source") == name)
            for svc in services.values() for v in (svc or {}).get("volumes") or [])
        if not used:
            R.note("volume %s is declared but no service mounts it" % name)

    for name in workers:
        R.check(healthy.get(name) is False or (services[name] or {}).get("healthcheck"),
                "service %s: the server image's healthcheck is disabled or replaced "
                "(a worker runs no server)" % name)

    # The server: reachable listen address, token file, grace period.
    server = services.get("server") or {}
    args = commands("server")
    listen = flag_value(args, "--listen") or "127.0.0.1:7350"
    token_file = flag_value(args, "--token-file")
    loopback = listen.startswith(("127.", "localhost:", "[::1]:"))
    R.check(loopback or token_file, "server: listens on %s with a --token-file" % listen,
            "server: --listen %s is not loopback and there is no --token-file (the "
            "server refuses to start open on a non-loopback address)" % listen)
    tokens = {}
    if token_file:
        secret_name = None
        if token_file.startswith("/run/secrets/"):
            secret_name = token_file[len("/run/secrets/"):]
        attached = [s if isinstance(s, str) else s.get("source") for s in server.get("secrets") or []]
        R.check(secret_name in attached,
                "server: --token-file %s is the mounted secret %s" % (token_file, secret_name))
        spec = secrets.get(secret_name) or {}
        if "file" in spec:
            tokens = read_token_file(os.path.normpath(os.path.join(base, interpolate(spec["file"], "secret"))),
                                     "secret %s" % secret_name)
    for name in workers:
        wargs = commands(name)
        addr = flag_value(wargs, "--server")
        R.check(addr and addr.split(":")[0] in services and addr.rsplit(":", 1)[-1] == listen.rsplit(":", 1)[-1],
                "service %s: --server %s is the server's service and port" % (name, addr))
        for s in (services[name] or {}).get("secrets") or []:
            s_name = s if isinstance(s, str) else s.get("source")
            spec = secrets.get(s_name) or {}
            if "token" in s_name and "file" in spec and tokens:
                path = os.path.normpath(os.path.join(base, interpolate(spec["file"], "secret")))
                try:
                    token = open(path, encoding="utf-8").read()
                except OSError:
                    token = ""
                check_worker_token(token, tokens, "service %s" % name)
    grace = float(flag_value(args, "--shutdown-grace") or SHUTDOWN_GRACE_DEFAULT)
    stop = parse_duration(server.get("stop_grace_period", "10s"))
    R.check(stop is not None and stop > grace + GRPC_DRAIN_SECONDS,
            "server: stop_grace_period %ss exceeds --shutdown-grace %ss + %ss" %
            (stop, grace, GRPC_DRAIN_SECONDS))

    # Prometheus scrapes the server's metrics port; Grafana's mounts.
    metrics_listen = flag_value(args, "--metrics-listen") or "127.0.0.1:9350"
    R.check(not metrics_listen.startswith(("127.", "localhost:", "[::1]:")),
            "server: --metrics-listen %s is reachable from other containers" % metrics_listen)
    prom_config = os.path.join(DEPLOY, "prometheus", "prometheus.yml")
    prom_docs = parsed.get(prom_config)
    if prom_docs:
        targets = [t for job in prom_docs[0].get("scrape_configs") or []
                   if job.get("job_name") == "condense-server"
                   for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
        expected = "server:%s" % metrics_listen.rsplit(":", 1)[-1]
        R.check(expected in targets, "prometheus.yml: job condense-server scrapes %s" % expected,
                "prometheus.yml: job condense-server should scrape %s (has %s)" % (expected, targets))
    grafana = services.get("grafana") or {}
    mounts = {}
    for vol in grafana.get("volumes") or []:
        if isinstance(vol, str) and ":" in vol:
            parts = vol.split(":")
            mounts[parts[1]] = parts[0]
    provider_file = os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "condense.yml")
    for doc in parsed.get(provider_file) or []:
        for provider in doc.get("providers") or []:
            path = (provider.get("options") or {}).get("path")
            R.check(path in mounts, "grafana: dashboards provider path %s is mounted" % path,
                    "grafana: dashboards provider path %s is not a mount target of the "
                    "grafana service" % path)
    R.check("/etc/grafana/provisioning" in mounts, "grafana: provisioning is mounted")
    ds_file = os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yml")
    for doc in parsed.get(ds_file) or []:
        for ds in doc.get("datasources") or []:
            host = re.sub(r"^https?://", "", ds.get("url", "")).split(":")[0].split("/")[0]
            R.check(host in services, "grafana datasource %s: %s is a compose service" %
                    (ds.get("name"), host))


# --------------------------------------------------------------------------
# Dockerfiles


def parse_dockerfile(path):
    """[{'name', 'base', 'instructions': [(INSTR, args)]}] by stage."""
    with open(path, encoding="utf-8") as f:
        raw = f.read().splitlines()
    logical = []
    current = ""
    for line in raw:
        stripped = line.strip()
        if stripped.startswith("#"):
            continue  # comments, also inside continued instructions
        if not stripped and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    if current.strip():
        logical.append(current.strip())
    stages = []
    for text in logical:
        parts = text.split(None, 1)
        instr = parts[0].upper()
        args = parts[1] if len(parts) > 1 else ""
        if instr == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            stages.append({"base": m.group(1) if m else args,
                           "name": (m.group(2) or "") if m else "",
                           "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instr, args))
    return stages


def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    patterns = []
    for line in open(path, encoding="utf-8").read().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def dockerignore_regex(pattern):
    """Docker's pattern syntax (Go's filepath.Match plus **) as a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out.append("/?")
                i += 1
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def dockerignored(relpath, patterns):
    """Docker's rule: the last matching pattern decides; a pattern that
    matches a folder also excludes everything under it."""
    parts = relpath.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = os.path.normpath((pattern[1:] if negate else pattern).strip("/"))
        regex = dockerignore_regex(pat)
        if any(regex.match(p) for p in prefixes):
            excluded = not negate
    return excluded


def copy_sources(args):
    """(--from value or None, [sources]) of a COPY/ADD argument string."""
    if args.startswith("["):
        try:
            items = json.loads(args)
        except ValueError:
            return None, []
        flags = []
    else:
        items = args.split()
        flags = [i for i in items if i.startswith("--")]
        items = [i for i in items if not i.startswith("--")]
    source_from = None
    for flag in flags:
        if flag.startswith("--from="):
            source_from = flag[len("--from="):]
    return source_from, items[:-1]


def check_dockerfiles():
    R.section("Dockerfiles")
    files = sorted(glob.glob(os.path.join(DEPLOY, "docker", "Dockerfile*")))
    R.check(any(rel(f) == SERVER_DOCKERFILE for f in files),
            "%s exists" % SERVER_DOCKERFILE)
    patterns = dockerignore_patterns()
    R.check(patterns, ".dockerignore exists and excludes something")
    for pattern in ("build/", ".git"):
        R.check(dockerignored(pattern, patterns), ".dockerignore excludes %s" % pattern)
    for path in files:
        name = rel(path)
        try:
            stages = parse_dockerfile(path)
        except OSError as e:
            R.fail("%s: %s" % (name, e))
            continue
        if not stages:
            R.fail("%s: no FROM" % name)
            continue
        stage_names = {s["name"] for s in stages if s["name"]}
        R.ok("%s: %d stages (%s)" % (name, len(stages), ", ".join(
            s["name"] or s["base"] for s in stages)))
        for stage in stages:
            for instr, args in stage["instructions"]:
                if instr not in ("COPY", "ADD"):
                    continue
                source_from, sources = copy_sources(args)
                if source_from is not None:
                    R.check(source_from in stage_names or "/" in source_from or ":" in source_from,
                            "%s: COPY --from=%s names a stage or an image" % (name, source_from))
                    continue
                if not sources:
                    R.fail("%s: cannot read %s %s" % (name, instr, args))
                for src in sources:
                    if re.match(r"^[a-z]+://", src):
                        continue
                    matches = glob.glob(os.path.join(ROOT, src))
                    if not R.check(matches, "%s: %s source %s exists" % (name, instr, src),
                                   "%s: %s source %s does not exist in the build "
                                   "context (the repository root)" % (name, instr, src)):
                        continue
                    if src.strip("/") not in ("", ".") and dockerignored(src, patterns):
                        R.fail("%s: %s source %s is excluded by .dockerignore" % (name, instr, src))
        final = stages[-1]
        users = [a.strip() for i, a in final["instructions"] if i == "USER"]
        user = users[-1] if users else "root"
        if R.check(user.split(":")[0] not in ("root", "0"),
                   "%s: final stage runs as USER %s" % (name, user),
                   "%s: final stage runs as root (add USER with a numeric non-root uid)" % name):
            R.check(bool(re.fullmatch(r"\d+(:\d+)?", user)),
                    "%s: USER %s is numeric (Kubernetes can check runAsNonRoot)" % (name, user))
        healthchecks = [a for i, a in final["instructions"] if i == "HEALTHCHECK"]
        if name == SERVER_DOCKERFILE:
            hc = healthchecks[-1] if healthchecks else ""
            R.check("CMD" in hc.upper() and "condense" in hc and "health" in hc,
                    "%s: HEALTHCHECK runs `condense health` (gRPC health protocol)" % name,
                    "%s: the server image needs HEALTHCHECK CMD condense health ..." % name)
        R.check(any(i in ("CMD", "ENTRYPOINT") for i, _ in final["instructions"]),
                "%s: final stage has a CMD or ENTRYPOINT" % name)
        for instr, args in final["instructions"]:
            if instr == "RUN" and "apt-get install" in args:
                dev = [p for p in args.split() if p.endswith("-dev")]
                R.check(not dev, "%s: runtime stage installs no -dev packages" % name,
                        "%s: runtime stage installs %s" % (name, " ".join(dev)))


# --------------------------------------------------------------------------
# Kubernetes

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_in(directory):
    for n in KUSTOMIZATION_NAMES:
        if os.path.isfile(os.path.join(directory, n)):
            return os.path.join(directory, n)
    return None


def check_kustomizations(parsed):
    R.section("Kubernetes kustomizations")
    k8s = os.path.join(DEPLOY, "k8s")
    base = os.path.join(k8s, "base")
    R.check(kustomization_in(base), "deploy/k8s/base has a kustomization")
    overlays = sorted(d for d in glob.glob(os.path.join(k8s, "overlays", "*")) if os.path.isdir(d))
    for needed in ("cpu", "gpu"):
        R.check(os.path.join(k8s, "overlays", needed) in overlays,
                "overlay deploy/k8s/overlays/%s exists" % needed)
    files = [p for p in parsed if os.path.basename(p) in KUSTOMIZATION_NAMES and
             p.startswith(k8s + os.sep)]
    for path in sorted(files):
        directory = os.path.dirname(path)
        k = parsed[path][0] or {}
        where = rel(path)
        referenced = []
        for entry in k.get("resources") or []:
            if "://" in entry or entry.startswith("github.com/"):
                R.note("%s: remote resource %s not checked" % (where, entry))
                continue
            target = os.path.normpath(os.path.join(directory, entry))
            if os.path.isdir(target):
                R.check(kustomization_in(target), "%s: resource %s is a kustomization" % (where, entry),
                        "%s: resource folder %s has no kustomization.yaml" % (where, entry))
            else:
                R.check(os.path.isfile(target), "%s: resource %s exists" % (where, entry))
            referenced.append(target)
        for entry in k.get("components") or []:
            target = os.path.normpath(os.path.join(directory, entry))
            R.check(kustomization_in(target), "%s: component %s exists" % (where, entry))
        for entry in k.get("patches") or []:
            if isinstance(entry, dict) and "path" in entry:
                R.check(os.path.isfile(os.path.join(directory, entry["path"])),
                        "%s: patch %s exists" % (where, entry["path"]))
        for entry in (k.get("patchesStrategicMerge") or []):
            if isinstance(entry, str) and "\n" not in entry:
                R.check(os.path.isfile(os.path.join(directory, entry)),
                        "%s: patch %s exists" % (where, entry))
        for entry in k.get("patchesJson6902") or []:
            if "path" in entry:
                R.check(os.path.isfile(os.path.join(directory, entry["path"])),
                        "%s: patch %s exists" % (where, entry["path"]))
        for gen_kind in ("configMapGenerator", "secretGenerator"):
            for gen in k.get(gen_kind) or []:
                for f in gen.get("files") or []:
                    f = f.split("=", 1)[-1]
                    R.check(os.path.isfile(os.path.join(directory, f)),
                            "%s: %s %s file %s exists" % (where, gen_kind, gen.get("name"), f))
                for f in (gen.get("envs") or []) + ([gen["env"]] if gen.get("env") else []):
                    R.check(os.path.isfile(os.path.join(directory, f)),
                            "%s: %s %s env file %s exists" % (where, gen_kind, gen.get("name"), f))
        if directory in overlays:
            R.check(os.path.normpath(base) in referenced,
                    "%s: builds on deploy/k8s/base" % where,
                    "%s: the overlay does not list ../../base in resources" % where)

    kubectl = shutil.which("kubectl")
    if not kubectl:
        R.note("kubectl not found: rendered overlays not checked "
               "(`kubectl kustomize` needs no cluster)")
        return
    for overlay in overlays:
        name = os.path.basename(overlay)
        result = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
        if not R.check(result.returncode == 0, "kubectl kustomize %s renders" % rel(overlay),
                       "kubectl kustomize %s failed: %s" % (rel(overlay), result.stderr.strip())):
            continue
        try:
            objects = [o for o in yaml.safe_load_all(result.stdout) if o]
        except yaml.YAMLError as e:
            R.fail("kubectl kustomize %s output does not parse: %s" % (rel(overlay), e))
            continue
        check_rendered(name, objects)


def pod_containers(obj):
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec, spec.get("containers") or []


def check_rendered(overlay, objects):
    where = "overlays/%s" % overlay
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o.get("kind"), []).append(o)
    R.ok("%s: %s" % (where, ", ".join("%d %s" % (len(v), k) for k, v in sorted(by_kind.items()))))
    statefulsets = [o for o in by_kind.get("StatefulSet", []) if o["metadata"]["name"] == "condense-server"]
    deployments = [o for o in by_kind.get("Deployment", []) if o["metadata"]["name"] == "condense-worker"]
    secrets = {o["metadata"]["name"]: o for o in by_kind.get("Secret", [])}
    services = {o["metadata"]["name"]: o for o in by_kind.get("Service", [])}
    if not R.check(len(statefulsets) == 1, "%s: StatefulSet condense-server" % where):
        return
    if not R.check(len(deployments) == 1, "%s: Deployment condense-worker" % where):
        return
    server = statefulsets[0]
    worker = deployments[0]
    R.check(server["spec"].get("replicas") == 1,
            "%s: the server has exactly 1 replica (SQLite and a local blob store)" % where)
    R.check(services.get(server["spec"].get("serviceName")),
            "%s: the StatefulSet's serviceName %s exists" % (where, server["spec"].get("serviceName")))
    claims = {c["metadata"]["name"] for c in server["spec"].get("volumeClaimTemplates") or []}
    spec, containers = pod_containers(server)
    c = containers[0] if containers else {}
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    R.check(mounts.get("/var/lib/condense") in claims,
            "%s: /var/lib/condense is on a PersistentVolumeClaim template" % where)
    args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    R.check(not c.get("command"),
            "%s: server sets args, not command (the image's tini entrypoint stays)" % where)
    listen = flag_value(args, "--listen") or "127.0.0.1:7350"
    R.check(flag_value(args, "--token-file"), "%s: server has a --token-file (listens on %s)"
            % (where, listen))
    grpc_port = int(listen.rsplit(":", 1)[-1])
    for probe in ("readinessProbe", "livenessProbe"):
        port = ((c.get(probe) or {}).get("grpc") or {}).get("port")
        R.check(port == grpc_port, "%s: server %s is a grpc probe on %s" % (where, probe, grpc_port))
    grace = float(flag_value(args, "--shutdown-grace") or SHUTDOWN_GRACE_DEFAULT)
    period = spec.get("terminationGracePeriodSeconds", 30)
    R.check(period > grace + GRPC_DRAIN_SECONDS,
            "%s: server terminationGracePeriodSeconds %s > --shutdown-grace %s + %s" %
            (where, period, grace, GRPC_DRAIN_SECONDS))
    annotations = ((server["spec"]["template"].get("metadata") or {}).get("annotations") or {})
    metrics_port = (flag_value(args, "--metrics-listen") or "127.0.0.1:9350").rsplit(":", 1)[-1]
    R.check(annotations.get("prometheus.io/scrape") == "true" and
            annotations.get("prometheus.io/port") == metrics_port and
            annotations.get("prometheus.io/path") == "/metrics",
            "%s: server pods carry prometheus.io scrape annotations for port %s" % (where, metrics_port))
    svc = services.get("condense-server") or {}
    svc_ports = {p.get("port") for p in (svc.get("spec") or {}).get("ports") or []}
    R.check({grpc_port, int(metrics_port)} <= svc_ports,
            "%s: Service condense-server exposes %s and %s" % (where, grpc_port, metrics_port))

    for obj in (server, worker):
        spec, containers = pod_containers(obj)
        kind_name = "%s: %s %s" % (where, obj["kind"], obj["metadata"]["name"])
        pod_sc = spec.get("securityContext") or {}
        for c in containers:
            sc = c.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            R.check(non_root is True and uid not in (0, None),
                    "%s/%s: runs as non-root uid %s" % (kind_name, c["name"], uid))
            R.check(sc.get("allowPrivilegeEscalation") is False,
                    "%s/%s: allowPrivilegeEscalation false" % (kind_name, c["name"]))
            res = c.get("resources") or {}
            R.check(res.get("requests") and res.get("limits") and
                    "memory" in res["limits"],
                    "%s/%s: resource requests and limits (memory: %s)" %
                    (kind_name, c["name"], (res.get("limits") or {}).get("memory")))
            R.check(c.get("image"), "%s/%s: image %s" % (kind_name, c["name"], c.get("image")))

    spec, containers = pod_containers(worker)
    c = containers[0] if containers else {}
    wargs = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    device = flag_value(wargs, "--device") or "auto"
    env = {e["name"]: e for e in c.get("env") or []}
    R.check(flag_value(wargs, "--server") or "CONDENSE_ADDR" in env,
            "%s: workers are given the server address" % where)
    token_ref = ((env.get("CONDENSE_TOKEN") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    R.check(token_ref, "%s: workers take CONDENSE_TOKEN from a Secret" % where)
    secret = secrets.get(token_ref.get("name"))
    if secret:
        data = secret.get("stringData") or {}
        tokens = parse_token_lines(str(data.get("tokens", "")).splitlines(),
                                   "%s: Secret %s key tokens" % (where, secret["metadata"]["name"]))
        check_worker_token(data.get(token_ref.get("key")), tokens, "%s: Secret" % where)
    limits = (c.get("resources") or {}).get("limits") or {}
    if overlay == "gpu":
        R.check(device.startswith("cuda"), "%s: workers run with --device %s" % (where, device))
        R.check(str(limits.get("nvidia.com/gpu")) == "1", "%s: workers limit nvidia.com/gpu: 1" % where)
        R.check(spec.get("nodeSelector") or spec.get("affinity"),
                "%s: workers select GPU nodes" % where)
        R.check(any("nvidia.com/gpu" in str(t.get("key")) for t in spec.get("tolerations") or []),
                "%s: workers tolerate the GPU taint" % where)
        R.check("cuda" in str(c.get("image")), "%s: workers run the CUDA image %s" % (where, c.get("image")))
    else:
        R.check(not device.startswith("cuda") and "nvidia.com/gpu" not in limits,
                "%s: workers use no GPU (--device %s)" % (where, device))


# --------------------------------------------------------------------------
# Token examples


def check_token_examples():
    R.section("Token examples")
    tokens_path = os.path.join(DEPLOY, "tokens.example")
    tokens = read_token_file(tokens_path, "deploy/tokens.example")
    worker_path = os.path.join(DEPLOY, "worker-token.example")
    if R.check(os.path.isfile(worker_path), "deploy/worker-token.example exists"):
        lines = open(worker_path, encoding="utf-8").read().splitlines()
        R.check(len([l for l in lines if l.strip()]) == 1,
                "deploy/worker-token.example is one line (the token alone)")
        check_worker_token(lines[0] if lines else "", tokens, "deploy/worker-token.example")
    for token in tokens:
        R.check("REPLACE" in token.upper() or "EXAMPLE" in token.upper(),
                "example token %s... is marked as an example" % token[:12])


# --------------------------------------------------------------------------
# Grafana and alert rule queries


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def check_grafana(parsed, exported):
    R.section("Grafana")
    ds_file = os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yml")
    ds_uids = set()
    for doc in parsed.get(ds_file) or []:
        for ds in doc.get("datasources") or []:
            R.check(ds.get("type") == "prometheus" and ds.get("url") and ds.get("name"),
                    "datasource %s: prometheus at %s" % (ds.get("name"), ds.get("url")))
            ds_uids.add(ds.get("uid"))
    if not ds_uids:
        R.fail("%s provisions no datasource" % rel(ds_file))
    provider_file = os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "condense.yml")
    R.check(parsed.get(provider_file), "%s provisions dashboards" % rel(provider_file))
    dashboards = sorted(glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")))
    R.check(dashboards, "deploy/grafana/dashboards has a dashboard")
    for path in dashboards:
        name = rel(path)
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            R.fail("%s does not parse: %s" % (name, e))
            continue
        R.check(dash.get("uid") and dash.get("title"), "%s: parses, uid %s" % (name, dash.get("uid")))
        variables = {v.get("name") for v in (dash.get("templating") or {}).get("list") or []}
        ids = set()
        panels = list(walk_panels(dash.get("panels")))
        bad = 0
        queries = 0
        for p in panels:
            if p.get("type") in ("row", "text"):
                continue
            title = "%s panel %r" % (name, p.get("title"))
            if p.get("id") in ids:
                R.fail("%s: panel id %s used twice" % (title, p.get("id")))
                bad += 1
            ids.add(p.get("id"))
            targets = [t for t in p.get("targets") or [] if not t.get("hide")]
            if not targets or not all(isinstance(t.get("expr"), str) and t["expr"].strip()
                                      for t in targets):
                R.fail("%s: needs a target with a PromQL expr" % title)
                bad += 1
                continue
            for t in targets:
                queries += 1
                bad += check_promql(title, t["expr"], exported)
                uid = ((t.get("datasource") or p.get("datasource") or {}).get("uid") or "")
                m = re.fullmatch(r"\$\{?(\w+)\}?", uid)
                if not ((m and m.group(1) in variables) or uid in ds_uids):
                    R.fail("%s: datasource %r is neither a dashboard variable nor a "
                           "provisioned datasource uid" % (title, uid))
                    bad += 1
        if not bad:
            R.ok("%s: %d panels, %d queries; every panel has a query and every "
                 "metric, label and value is exported" % (name, len(ids), queries))


def check_alert_rules(parsed, exported):
    R.section("Alert rules: metric names")
    path = os.path.join(DEPLOY, "prometheus", "alerts.yml")
    docs = parsed.get(path)
    if not docs:
        R.fail("deploy/prometheus/alerts.yml is missing or does not parse")
        return
    rules = [r for g in docs[0].get("groups") or [] for r in g.get("rules") or []]
    for r in rules:
        if r.get("record"):
            exported.recorded.add(r["record"])
    alerts = [r["alert"] for r in rules if r.get("alert")]
    bad = 0
    for r in rules:
        where = "rule %s" % (r.get("alert") or r.get("record"))
        bad += check_promql(where, r.get("expr"), exported)
        if r.get("alert"):
            if not (r.get("labels") or {}).get("severity"):
                R.fail("%s: no severity label" % where)
                bad += 1
            if not (r.get("annotations") or {}).get("summary"):
                R.fail("%s: no summary annotation" % where)
                bad += 1
    if not bad:
        R.ok("%d rules (%s): every metric, label and value is exported; every alert "
             "has a severity and a summary" % (len(rules), ", ".join(alerts)))
    # runbook_url: docs/FILE.md#anchor must name a heading of that file.
    for r in rules:
        url = (r.get("annotations") or {}).get("runbook_url", "")
        m = re.fullmatch(r"(docs/[\w.-]+\.md)#([\w-]+)", url)
        if not url:
            continue
        if not m:
            R.note("rule %s: runbook_url %s is not a docs/ link; not checked" % (r.get("alert"), url))
            continue
        doc = os.path.join(ROOT, m.group(1))
        anchors = set()
        if os.path.isfile(doc):
            for line in open(doc, encoding="utf-8"):
                h = re.match(r"#+\s+(.*)", line)
                if h:
                    anchor = re.sub(r"[^\w\- ]", "", h.group(1).strip().lower()).replace(" ", "-")
                    anchors.add(anchor)
        R.check(m.group(2) in anchors, "rule %s: runbook %s has its section" % (r.get("alert"), url),
                "rule %s: runbook_url %s names no heading of %s" % (r.get("alert"), url, m.group(1)))
    for needed in ("CondenseServerDown", "CondenseNoWorkers", "CondenseQueueGrowing",
                   "CondenseJobsFailing", "CondenseGrpcServerErrors"):
        R.check(needed in alerts, "alert %s exists" % needed)
    tests_path = os.path.join(DEPLOY, "prometheus", "alerts_test.yml")
    tested = set()
    for doc in parsed.get(tests_path) or []:
        for t in doc.get("tests") or []:
            for a in t.get("alert_rule_test") or []:
                if a.get("exp_alerts"):
                    tested.add(a.get("alertname"))
    untested = [a for a in alerts if a not in tested]
    R.check(not untested, "alerts_test.yml makes every alert fire at least once",
            "alerts_test.yml never expects these alerts to fire: %s" % ", ".join(untested))


# --------------------------------------------------------------------------
# promtool


def check_promtool():
    R.section("promtool")
    promtool = shutil.which("promtool")
    if not promtool:
        R.fail("promtool not found: install Debian's `prometheus` package")
        return
    prom_dir = os.path.join(DEPLOY, "prometheus")
    for args in (["check", "config", "prometheus.yml"],
                 ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        result = subprocess.run([promtool] + args, cwd=prom_dir, capture_output=True, text=True)
        output = (result.stdout + result.stderr).strip()
        if result.returncode == 0:
            R.ok("promtool %s" % " ".join(args))
        else:
            R.fail("promtool %s failed:\n%s" % (" ".join(args), output))


# --------------------------------------------------------------------------


def main():
    print("deploy/check.py: validating deployment files in %s" % ROOT)
    parsed = check_yaml_files()
    exported = read_exported_metrics()
    check_alert_rules(parsed, exported)
    check_grafana(parsed, exported)
    check_compose(parsed, exported)
    check_token_examples()
    check_dockerfiles()
    check_kustomizations(parsed)
    check_promtool()
    print()
    if R.problems:
        print("deploy/check.py: %d of %d checks failed:" % (len(R.problems), R.checks))
        for p in R.problems:
            print("  - " + p.replace("\n", "\n    "))
        return 1
    print("deploy/check.py: all %d checks passed" % R.checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
