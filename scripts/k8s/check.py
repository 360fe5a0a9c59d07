"""Checks deploy/kubernetes/ without a cluster (run by scripts/k8s-check.sh in .venv-k8s).

1. Every kustomization.yaml lists exactly the manifests beside it (plus ALLOWED_UNLISTED), each
   listed file exists, and it uses only what this script can render (resources, namespace).
2. Each kustomization is rendered here in Python (resources + namespace, recursively), and every
   resource, and every YAML file outside a kustomization, is validated against the Kubernetes API
   schemas (kubernetes-validate, strict: unknown fields are errors) for the oldest and the newest
   Kubernetes version we claim. Custom resources without a bundled schema (ServiceMonitor) are
   checked against a small schema below.
3. Cross-references that a schema cannot see: selectors match pod labels, named ports and
   ConfigMaps/Secrets/ServiceAccounts exist, probes hit the proxy's health endpoints, the drain
   fits in terminationGracePeriodSeconds, ENV_FILE/PIPELINES_FILE are files of a mounted
   ConfigMap (no subPath, so the kubelet's updates reach them), pipelines.json parses.
4. If kubectl is on PATH, `kubectl kustomize` renders each kustomization too and must produce the
   same set of objects (skipped, with a note, when it is not).

Prints failures only (K8S_CHECK_VERBOSE=1: every check). The last line is
"manifests: N passed, M failed"; the exit status is 0 only when nothing failed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml
from kubernetes_validate import utils as kv

# Oldest and newest Kubernetes versions the manifests are validated against.
MIN_VERSION = "1.30"
MAX_VERSION = kv.latest_version()

# Files that sit beside a kustomization.yaml on purpose without being part of it.
ALLOWED_UNLISTED = {
    "secret.example.yaml": "an example Secret with empty values; real keys are created with kubectl, never committed",
}

# What the proxy needs from its Deployment (deploy/kubernetes/deployment.yaml).
PROXY_DEPLOYMENT = "hydracodedone"
LIVENESS_PATH = "/health"
READINESS_PATH = "/health/ready"

# A custom resource has no schema in kubernetes-validate: the fields we use, checked strictly enough
# to catch a typo or a wrong type.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "matchExpressions": {"type": "array"},
                    },
                },
                "namespaceSelector": {"type": "object"},
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "honorLabels": {"type": "boolean"},
                            "authorization": {"type": "object"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}
CUSTOM_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA}

# Kinds that live in a namespace (all we use; kustomize's `namespace:` sets theirs).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass"}

passed = 0
failed = 0
VERBOSE = os.environ.get("K8S_CHECK_VERBOSE") == "1"
_seen: set[str] = set()
# The cross-reference checks run twice, on the default kustomization alone and with the optional
# ones beside it: a check with the same text under these two scopes counts once.
SCOPES: list[str] = []


def _first(what: str) -> bool:
    key = what
    for scope in SCOPES:
        if what.startswith(scope + ": "):
            key = what[len(scope) + 2:]
    if key in _seen:
        return False
    _seen.add(key)
    return True


def ok(what: str) -> None:
    global passed
    if _first(what):
        passed += 1
        if VERBOSE:
            print(f"  ok    {what}")


def fail(what: str, why: str) -> None:
    global failed
    if _first(what):
        failed += 1
        print(f"  FAIL  {what}: {why}")


def check(condition: bool, what: str, why: str) -> bool:
    (ok if condition else lambda w: fail(w, why))(what)
    return condition


def rel(p: Path) -> str:
    """A path as the user typed it: relative to the working directory (the repository root)."""
    p = p.resolve()
    return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def ident(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj.get("kind", "?"), meta.get("namespace", ""), meta.get("name", "?"))


def label(obj: dict) -> str:
    kind, ns, name = ident(obj)
    return f"{kind} {ns + '/' if ns else ''}{name}"


# ---------------------------------------------------------------------------------------------
# 1 + 2. Kustomizations: the list matches the directory; a Python rendering.

def render(kdir: Path, root: Path, seen: set[Path] | None = None) -> tuple[list[tuple[Path, dict]], set[Path]]:
    """Objects of the kustomization in kdir (with the file each came from) and the files it used."""
    seen = set() if seen is None else seen
    if kdir in seen:
        raise ValueError(f"{rel(kdir)}: kustomization cycle")
    seen.add(kdir)
    k = load_docs(kdir / "kustomization.yaml")[0]
    unsupported = set(k) - {"apiVersion", "kind", "namespace", "resources"}
    if unsupported:
        raise ValueError(f"{rel(kdir / 'kustomization.yaml')} uses {sorted(unsupported)}: "
                         "scripts/k8s/check.py renders only resources and namespace; extend it")
    objects: list[tuple[Path, dict]] = []
    used: set[Path] = {kdir / "kustomization.yaml"}
    for entry in k.get("resources") or []:
        p = (kdir / entry).resolve()
        if p.is_dir():
            sub, sub_used = render(p, root, seen)
            objects += sub
            used |= sub_used
        elif p.is_file():
            used.add(p)
            objects += [(p, d) for d in load_docs(p)]
        else:
            raise ValueError(f"{rel(kdir / 'kustomization.yaml')}: resource {entry} does not exist")
    if k.get("namespace"):
        for _, obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = k["namespace"]
    return objects, used


def check_kustomization_lists(root: Path) -> list[Path]:
    """Every kustomization lists exactly the manifests in its directory. Returns the kustomization dirs."""
    kdirs = sorted(p.parent for p in root.rglob("kustomization.yaml"))
    for kdir in kdirs:
        where = rel(kdir)
        k = load_docs(kdir / "kustomization.yaml")[0]
        check(k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1" and k.get("kind") == "Kustomization",
              f"{where}/kustomization.yaml is a Kustomization", f"apiVersion/kind are {k.get('apiVersion')}/{k.get('kind')}")
        listed = {str(e) for e in (k.get("resources") or [])}
        local = {p.name for p in kdir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml"}
        unlisted = sorted(local - listed - set(ALLOWED_UNLISTED))
        missing = sorted(e for e in listed if not (kdir / e).exists())
        check(not unlisted, f"{where}: every manifest beside kustomization.yaml is listed",
              f"not in resources: {unlisted} (list them, or add them to ALLOWED_UNLISTED in scripts/k8s/check.py with the reason)")
        check(not missing, f"{where}: every listed resource exists", f"missing: {missing}")
        for name, why in ALLOWED_UNLISTED.items():
            if name in local:
                check(name not in listed, f"{where}/{name} stays out of the kustomization ({why})", "it is listed in resources")
    # Files in directories without a kustomization.yaml would never be applied.
    for p in sorted(root.rglob("*.y*ml")):
        if not (p.parent / "kustomization.yaml").exists():
            fail(str(rel(p)), "no kustomization.yaml in its directory: `kubectl apply -k` never applies it")
    return kdirs


# ---------------------------------------------------------------------------------------------
# 2. Schemas.

def validate_schema(obj: dict, where: str) -> None:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CUSTOM_SCHEMAS:
        try:
            jsonschema.validate(obj, CUSTOM_SCHEMAS[key])
            ok(f"{where}: {label(obj)} matches the ServiceMonitor fields we use (custom resource, no bundled schema)")
        except jsonschema.ValidationError as e:
            fail(f"{where}: {label(obj)}", f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}")
        return
    for version in (MIN_VERSION, MAX_VERSION):
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as e:
            fail(f"{where}: {label(obj)} against Kubernetes {version}",
                 f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}")
            return
        except kv.SchemaNotFoundError as e:
            fail(f"{where}: {label(obj)}", e.message)
            return
    ok(f"{where}: {label(obj)} valid against Kubernetes {MIN_VERSION} and {MAX_VERSION} (strict)")


# ---------------------------------------------------------------------------------------------
# 3. Cross-references.

def matches(selector: dict, labels: dict) -> bool:
    ml = (selector or {}).get("matchLabels") or {}
    return bool(ml) and all(labels.get(k) == v for k, v in ml.items())


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def container_ports(obj: dict) -> dict:
    ports = {}
    for c in pod_spec(obj).get("containers", []):
        for p in c.get("ports", []):
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
    return ports


def parse_env_file(text: str) -> dict[str, str]:
    """The simple subset of .env the manifests use: KEY=VALUE, KEY="VALUE", comments."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r'(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)=(.*)', s)
        if not m:
            raise ValueError(f"line {n}: not KEY=VALUE: {line!r}")
        v = m.group(2).strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out[m.group(1)] = v
    return out


def check_references(objects: list[dict], where: str, optional_secrets: set[str]) -> None:
    by_kind: dict[str, dict[tuple[str, str], dict]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[(o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
    idents = [ident(o) for o in objects]
    dupes = sorted({i for i in idents if idents.count(i) > 1})
    check(not dupes, f"{where}: no object defined twice", f"duplicates: {dupes}")

    def get(kind: str, ns: str, name: str) -> dict | None:
        return by_kind.get(kind, {}).get((ns, name))

    workloads = [o for o in objects if pod_spec(o) is not None]
    for w in workloads:
        ns, spec, name = w["metadata"].get("namespace", ""), pod_spec(w), label(w)
        check(matches(w["spec"]["selector"], pod_labels(w)), f"{where}: {name} selector matches its pod labels",
              f"{w['spec']['selector']} vs {pod_labels(w)}")
        sa = spec.get("serviceAccountName")
        if sa:
            check(get("ServiceAccount", ns, sa) is not None, f"{where}: {name} service account {sa} exists", "not defined")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v:
                check(get("ConfigMap", ns, v["configMap"]["name"]) is not None or v["configMap"].get("optional"),
                      f"{where}: {name} volume {v['name']}: ConfigMap {v['configMap']['name']} exists", "not defined")
        ports = container_ports(w)
        for c in spec.get("containers", []):
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    cm = ref["configMapRef"]["name"]
                    check(get("ConfigMap", ns, cm) is not None, f"{where}: {name} envFrom ConfigMap {cm} exists", "not defined")
                if "secretRef" in ref:
                    s = ref["secretRef"]["name"]
                    check(get("Secret", ns, s) is not None or (ref["secretRef"].get("optional") and s in optional_secrets),
                          f"{where}: {name} envFrom Secret {s} exists or is optional (created by the user)",
                          "not defined and not optional")
            for m in c.get("volumeMounts", []):
                check(m["name"] in volumes or m["name"] in claims, f"{where}: {name} mount {m['mountPath']} has a volume",
                      f"no volume {m['name']}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str):
                    check(port in ports, f"{where}: {name} {probe} port {port} is a container port", f"ports are {sorted(ports)}")
        if w["metadata"]["name"] == PROXY_DEPLOYMENT and w["kind"] == "Deployment":
            check_proxy(w, ns, get, where)

    def workload_for(ns: str, selector: dict) -> list[dict]:
        return [w for w in workloads if w["metadata"].get("namespace", "") == ns and matches(selector, pod_labels(w))]

    for s in by_kind.get("Service", {}).values():
        ns = s["metadata"].get("namespace", "")
        targets = workload_for(ns, {"matchLabels": s["spec"].get("selector") or {}})
        if check(bool(targets), f"{where}: {label(s)} selects a workload's pods", f"no pods match {s['spec'].get('selector')}"):
            for p in s["spec"]["ports"]:
                tp = p.get("targetPort")
                if isinstance(tp, str):
                    check(all(tp in container_ports(t) for t in targets), f"{where}: {label(s)} targetPort {tp} is a container port",
                          "not a named port of the selected pods")
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for o in by_kind.get(kind, {}).values():
            sel = o["spec"]["selector"] if kind == "PodDisruptionBudget" else o["spec"]["podSelector"]
            check(bool(workload_for(o["metadata"].get("namespace", ""), sel)), f"{where}: {label(o)} selects a workload's pods",
                  f"no pods match {sel}")
    for h in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = h["spec"]["scaleTargetRef"]
        target = get(ref["kind"], h["metadata"].get("namespace", ""), ref["name"])
        if check(target is not None, f"{where}: {label(h)} scales an existing {ref['kind']} {ref['name']}", "not defined"):
            check(h["spec"].get("minReplicas", 1) <= target["spec"].get("replicas", 1) <= h["spec"]["maxReplicas"],
                  f"{where}: {label(h)} range holds the Deployment's replicas", "replicas outside minReplicas..maxReplicas")
            cpu = [m for m in h["spec"].get("metrics", []) if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
            if cpu:
                check(all("cpu" in (c.get("resources", {}).get("requests") or {}) for c in pod_spec(target)["containers"]),
                      f"{where}: {label(h)} CPU utilization has a CPU request to divide by", "a container has no cpu request")
    for sm in by_kind.get("ServiceMonitor", {}).values():
        ns = sm["metadata"].get("namespace", "")
        svcs = [s for s in by_kind.get("Service", {}).values()
                if s["metadata"].get("namespace", "") == ns and matches(sm["spec"]["selector"], s["metadata"].get("labels") or {})]
        check(bool(svcs) or "Service" not in by_kind, f"{where}: {label(sm)} selects a Service", "no Service has those labels")
        for e in sm["spec"]["endpoints"]:
            if svcs and "port" in e:
                check(all(e["port"] in {p.get("name") for p in s["spec"]["ports"]} for s in svcs),
                      f"{where}: {label(sm)} port {e['port']} is a Service port", "not a named Service port")
    for ing in by_kind.get("Ingress", {}).values():
        ns = ing["metadata"].get("namespace", "")
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                b = p["backend"]["service"]
                svc = get("Service", ns, b["name"])
                if "Service" in by_kind and check(svc is not None, f"{where}: {label(ing)} backend Service {b['name']} exists", "not defined"):
                    pn = b["port"].get("name")
                    if pn:
                        check(pn in {x.get("name") for x in svc["spec"]["ports"]}, f"{where}: {label(ing)} backend port {pn} exists",
                              "not a named Service port")
        ann = ing["metadata"].get("annotations") or {}
        check(ann.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off", f"{where}: {label(ing)} does not buffer SSE",
              "nginx.ingress.kubernetes.io/proxy-buffering is not \"off\"")
        for a in ("proxy-read-timeout", "proxy-send-timeout"):
            v = ann.get(f"nginx.ingress.kubernetes.io/{a}", "60")
            check(v.isdigit() and int(v) >= 300, f"{where}: {label(ing)} {a} >= 300 s", f"{v}")


def check_proxy(d: dict, ns: str, get, where: str) -> None:
    """The proxy's Deployment against its own settings."""
    spec = pod_spec(d)
    c = spec["containers"][0]
    env: dict[str, str] = {}
    for ref in c.get("envFrom", []):
        if "configMapRef" in ref and (cm := get("ConfigMap", ns, ref["configMapRef"]["name"])):
            env.update(cm.get("data") or {})
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    name = label(d)
    check((c.get("livenessProbe") or {}).get("httpGet", {}).get("path") == LIVENESS_PATH,
          f"{where}: {name} liveness probe is GET {LIVENESS_PATH}", "it is not")
    check((c.get("readinessProbe") or {}).get("httpGet", {}).get("path") == READINESS_PATH,
          f"{where}: {name} readiness probe is GET {READINESS_PATH}", "it is not")
    sc, psc = c.get("securityContext") or {}, spec.get("securityContext") or {}
    check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
          and (sc.get("capabilities") or {}).get("drop") == ["ALL"]
          and (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
          and ((sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"),
          f"{where}: {name} is non-root, read-only root, no capabilities, seccomp RuntimeDefault", f"securityContext {sc}")
    # The drain must fit in the grace period: preStop sleep + GRACEFUL_SHUTDOWN_SECONDS < terminationGracePeriodSeconds.
    pre = (c.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        pre_s = int(pre["sleep"]["seconds"])
    else:
        cmd = (pre.get("exec") or {}).get("command") or []
        pre_s = int(cmd[-1]) if len(cmd) == 2 and cmd[0].endswith("sleep") and cmd[-1].isdigit() else -1
    if check(pre_s > 0, f"{where}: {name} preStop pauses before SIGTERM ({pre_s} s)", "no preStop sleep"):
        drain = float(env.get("GRACEFUL_SHUTDOWN_SECONDS", "30"))
        grace = spec.get("terminationGracePeriodSeconds", 30)
        check(grace > pre_s + drain, f"{where}: {name} terminationGracePeriodSeconds {grace} > preStop {pre_s} + GRACEFUL_SHUTDOWN_SECONDS {drain:g}",
              "the kubelet would SIGKILL requests still draining")
    watch = env.get("CONFIG_WATCH_SECONDS", "0")
    check(re.fullmatch(r"[0-9.]+", watch) is not None and float(watch) > 0, f"{where}: {name} CONFIG_WATCH_SECONDS is on ({watch})",
          "a mounted ConfigMap is updated without SIGHUP: the proxy would never reload")
    for k in ("MAX_CONCURRENT_REQUESTS", "MAX_QUEUED_REQUESTS"):
        check(env.get(k, "").isdigit(), f"{where}: {name} sets {k} (per replica)", "missing or not an integer")
    # ENV_FILE and PIPELINES_FILE must be files of a whole-ConfigMap mount (no subPath: subPath
    # mounts never see the kubelet's updates).
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for var in ("ENV_FILE", "PIPELINES_FILE"):
        path = env.get(var)
        if not check(bool(path), f"{where}: {name} sets {var}", "not set"):
            continue
        mount = next((m for m in c.get("volumeMounts", [])
                      if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")), None)
        if not check(mount is not None and "configMap" in volumes.get(mount["name"], {}),
                     f"{where}: {name} {var} {path} is on a ConfigMap volume", "no ConfigMap volume is mounted there"):
            continue
        if not check("subPath" not in mount and "subPathExpr" not in mount, f"{where}: {name} {var} mount has no subPath",
                     "a subPath mount is never updated: the proxy would not see ConfigMap edits"):
            continue
        cm = get("ConfigMap", ns, volumes[mount["name"]]["configMap"]["name"])
        key = path[len(mount["mountPath"].rstrip("/")) + 1:]
        text = ((cm or {}).get("data") or {}).get(key)
        if not check(text is not None, f"{where}: {name} {var}: ConfigMap key {key} exists", "no such key"):
            continue
        try:
            if var == "PIPELINES_FILE":
                doc = json.loads(text)
                ids = [p["id"] for p in doc["pipelines"]]
                check(len(ids) == len(set(ids)) and all(p.get("primary", {}).get("base_url", "").startswith(("http://", "https://"))
                                                        and p["primary"].get("model") for p in doc["pipelines"]),
                      f"{where}: {key} has pipelines {ids}, each with a primary base_url and model", "a pipeline is incomplete or duplicated")
            else:
                values = parse_env_file(text)
                ok(f"{where}: {key} parses ({len(values)} settings)")
                for k in ("PRIMARY_MODEL_NAME",):
                    check(bool(values.get(k) or env.get(k)), f"{where}: {key} sets {k}", "required by the proxy")
                overridden = sorted(set(values) & set(env))
                check(not overridden, f"{where}: {key} sets nothing that the environment overrides",
                      f"{overridden} are also environment variables, which win: editing them in the file would change nothing")
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{where}: {key}", f"does not parse: {e}")


# ---------------------------------------------------------------------------------------------
# 4. kubectl kustomize, when there is one.

def kubectl_render(kdir: Path) -> list[dict] | None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    try:
        out = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "KUBECONFIG": os.devnull})
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"kubectl kustomize failed to run: {e}")
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"kubectl kustomize exited {out.returncode}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/kubernetes").resolve()
    print(f"k8s-check: {rel(root)} "
          f"(kubernetes-validate {kv.__version__}, schemas {MIN_VERSION} and {MAX_VERSION})")
    kdirs = check_kustomization_lists(root)

    rendered: dict[Path, list[tuple[Path, dict]]] = {}
    used: set[Path] = set()
    for kdir in kdirs:
        try:
            rendered[kdir], u = render(kdir, root)
            used |= u
        except (ValueError, yaml.YAMLError) as e:
            fail(f"render {rel(kdir)}", str(e))

    # Schemas: every object as rendered (namespace applied), once per source file.
    validated: set[tuple[Path, tuple]] = set()
    for kdir, objs in rendered.items():
        for path, obj in objs:
            key = (path, ident(obj))
            if key not in validated:
                validated.add(key)
                validate_schema(obj, str(rel(path)))
    # Files outside every kustomization (secret.example.yaml): validated as they are.
    outside: list[dict] = []
    for p in sorted(root.rglob("*.y*ml")):
        if p.resolve() not in used and p.name != "kustomization.yaml":
            for obj in load_docs(p):
                validate_schema(obj, str(rel(p)))
                outside.append(obj)

    n_objects = len(validated) + len(outside)
    print(f"  schemas: {n_objects} objects in {len(list(root.rglob('*.y*ml'))) - len(kdirs)} files, "
          f"{len(kdirs)} kustomizations ({', '.join(str(rel(k)) for k in kdirs)})")

    # Cross-references: the default kustomization alone, then with every optional one beside it
    # (the Ingress, ServiceMonitor and Ollama refer to objects of the default one).
    optional_secrets = {o["metadata"]["name"] for o in outside if o.get("kind") == "Secret"}
    base = [o for _, o in rendered.get(root, [])]
    SCOPES.extend([rel(root), f"{rel(root)} + optional"])
    check_references(base, rel(root), optional_secrets)
    everything = base + [o for kdir, objs in rendered.items() if kdir != root for _, o in objs]
    check_references(everything, f"{rel(root)} + optional", optional_secrets)
    for o in outside:
        if o.get("kind") == "Secret":
            values = {**(o.get("data") or {}), **(o.get("stringData") or {})}
            check(all(v in ("", None) for v in values.values()), f"{label(o)} example holds no values",
                  "an example Secret in the repository must not carry keys")

    # kubectl kustomize, when present, must render the same objects.
    for kdir in kdirs:
        kd = rel(kdir)
        try:
            theirs = kubectl_render(kdir)
        except RuntimeError as e:
            fail(f"kubectl kustomize {kd}", str(e))
            continue
        if theirs is None:
            print("  note  kubectl not found: the kustomizations were rendered by this script only")
            break
        mine = sorted(ident(o) for _, o in rendered.get(kdir, []))
        check(sorted(ident(o) for o in theirs) == mine, f"kubectl kustomize {kd} renders the same {len(mine)} objects",
              f"kubectl: {sorted(ident(o) for o in theirs)}; check.py: {mine}")

    print(f"manifests: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
