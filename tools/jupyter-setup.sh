#!/usr/bin/env bash
# Set up everything the notebooks need, idempotently:
#   1. GoNB, gopls and goimports, pinned in tools/go.mod, built into .tools/bin;
#   2. Jupyter: Debian packages where apt is available (as root), else a Python
#      virtual environment with JupyterLab in .tools/venv;
#   3. the "gonb" kernel, registered with GOEXPERIMENT=simd and a PATH that finds
#      go, gopls and goimports however Jupyter is started.
# .tools/python is left pointing at a Python that has nbclient (used by nbrun.py).
# With JUPYTER_SERVER=1 (make jupyter) it also makes sure a notebook server is
# installed: JupyterLab where it is, else Debian's classic Notebook.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin"
export PATH="$bin:$PATH"

say() { printf 'jupyter-setup: %s\n' "$*"; }

say "building GoNB, gopls and goimports into .tools/bin"
(cd "$root/tools" && GOEXPERIMENT='' GOBIN="$bin" GOFLAGS=-mod=mod go install tool)

has_nbclient() { "$1" -c 'import nbclient, nbformat, jupyter_client' >/dev/null 2>&1; }

py=""
for cand in /usr/bin/python3 "$(command -v python3 || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && has_nbclient "$cand" && command -v jupyter >/dev/null; then
    py="$cand"
    break
  fi
done
if [ -n "$py" ]; then
  : # a Python with Jupyter's executor is already installed (Debian packages, or an active venv)
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  say "installing Jupyter from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    jupyter-nbconvert python3-nbclient python3-nbformat jupyter-client python3-ipykernel >/dev/null
  py=/usr/bin/python3
else
  venv="$root/.tools/venv"
  if ! [ -x "$venv/bin/python" ] || ! has_nbclient "$venv/bin/python"; then
    say "installing JupyterLab into a virtual environment (.tools/venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q jupyterlab nbclient nbformat nbconvert
  fi
  py="$venv/bin/python"
  export PATH="$venv/bin:$PATH"
fi
has_nbclient "$py" || { say "no usable Jupyter found with $py"; exit 1; }
if [ "${JUPYTER_SERVER:-0}" = 1 ] && ! command -v jupyter-lab >/dev/null && ! command -v jupyter-notebook >/dev/null \
  && ! [ -x "$root/.tools/venv/bin/jupyter-lab" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing Debian's Jupyter Notebook server"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jupyter-notebook >/dev/null
  else
    say "installing JupyterLab into .tools/venv"
    python3 -m venv "$root/.tools/venv" && "$root/.tools/venv/bin/pip" install -q jupyterlab
  fi
fi
ln -sf "$py" "$root/.tools/python"

say "registering the gonb kernel"
"$bin/gonb" --install >/dev/null 2>&1 || "$bin/gonb" --install
gobin="$(dirname "$(command -v go)")"
"$py" - "$bin" "$gobin" <<'PY'
import json, os, sys
tools, gobin = sys.argv[1], sys.argv[2]
path = os.path.expanduser("~/.local/share/jupyter/kernels/gonb/kernel.json")
spec = json.load(open(path))
env = spec.setdefault("env", {})
env["GOEXPERIMENT"] = "simd"  # AVX2/AVX-512 matrix products on the pure-Go backend
env["PATH"] = ":".join([tools, gobin, os.path.expanduser("~/go/bin"), "/usr/local/bin", "/usr/bin", "/bin"])
json.dump(spec, open(path, "w"), indent=1)
print("jupyter-setup: kernel", path, "env:", env)
PY
say "done"
