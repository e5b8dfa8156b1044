#!/usr/bin/env bash
# Device check: run the edge runtime on 64-bit Raspberry Pi OS (Debian arm64) under qemu-user, on
# emulated Pi CPUs, and compare every output with the x86 run. Needs root (chroot, mounts, apt).
#
#   sudo device/check.sh            # bookworm (Python 3.11): ai_edge_litert and tflite_runtime
#   sudo SUITE=trixie device/check.sh   # trixie (Python 3.13): ai_edge_litert only
#   sudo device/check.sh --fresh    # rebuild the cached arm64 root and venvs from scratch
#   sudo CHECK_CPUS=cortex-a72 CHECK_RUNTIMES=ai_edge_litert device/check.sh   # one run, ~3 min
#
# Three model sets: the digits MLP (every edge variant, one file encrypted), a MobileNetV2 α 0.35
# at 96×96 (float32 and int8 with float I/O; device/mobilenet_set.py) and a Keras 3
# MobileNetV3Small brought as a .keras file (float32, int8, pruned; device/brought_set.py), all
# built here and cached.
# Environment: SUITE (bookworm), DEVICE_CACHE (~/.cache/tfmodel-device), DEVICE_ROOT
# ($DEVICE_CACHE/$SUITE), EDGE_DIR (a digits-like folder of model_*.tflite to check instead of
# the digits set), CHECK_CPUS / CHECK_RUNTIMES (space-separated subsets, for iterating),
# PYTHON (.venv/bin/python, the project's host interpreter).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SUITE=${SUITE:-bookworm}
CACHE=${DEVICE_CACHE:-${HOME:-/root}/.cache/tfmodel-device}
ROOT=${DEVICE_ROOT:-$CACHE/$SUITE}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
read -r -a CPUS <<<"${CHECK_CPUS:-cortex-a53 cortex-a72 cortex-a76}"
# The other runtime a Pi owner may install (docs/devices.md); its wheels stop at Python 3.11.
TFLITE_RUNTIME_PACKAGES=("tflite-runtime==2.14.0" "numpy<2" "pillow" "cryptography")
DEVICE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The edge runtime's TF-free tests, run inside the emulated Pi on the copied model set.
DEVICE_TESTS=(tests/edge/device/test_edge_runtime.py)
# The key of the one encrypted file in the payload (edge.encrypt), named to the runtime by
# $TFMODEL_DECRYPT_KEY on the host and in the emulated Pi alike.
ENCRYPTION_KEY=model-encryption.key
ENCRYPTED_MODEL=model_int8.tflite
# The model sets' folders in the payload: the edge runtime's tests run on the first; the others
# are deep int8 networks, which compare.py judges by their quantization error (--deep).
SETS=(digits mobilenet brought)
FRESH=0
MODELS=
MOBILENET=
BROUGHT=
MOUNTED_BINFMT=0

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

say() { printf '==> %s\n' "$*"; }

die() {
    printf 'device-check: %s\n' "$*" >&2
    exit 1
}

# Runs a command with its output in $CACHE/logs/SUITE/NAME.log, showing its tail if it fails.
run_logged() {
    local name=$1 log="$CACHE/logs/$SUITE/$1.log"
    shift
    mkdir -p "$CACHE/logs/$SUITE"
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "step '$name' failed (full log: $log)"
    fi
}

parse_args() {
    while (($#)); do
        case $1 in
            --fresh) FRESH=1 ;;
            -h | --help) usage && exit 0 ;;
            *) echo "device-check: unknown option $1" >&2 && usage >&2 && exit 2 ;;
        esac
        shift
    done
    [[ $SUITE == bookworm || $SUITE == trixie ]] || die "SUITE=$SUITE: use bookworm or trixie"
    [[ -x $PYTHON ]] || die "no project interpreter $PYTHON: run 'make test' once, or set PYTHON"
}

require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "device-check: needs root (it installs qemu, chroots and mounts /proc and /sys);" \
            "run: sudo make device-check" >&2
        exit 2
    fi
}

install_host_tools() {
    if command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null &&
        command -v update-binfmts >/dev/null; then
        return
    fi
    say "installing qemu-user-static binfmt-support debootstrap"
    run_logged apt-update apt-get update
    run_logged apt-install env DEBIAN_FRONTEND=noninteractive apt-get install -y \
        qemu-user-static binfmt-support debootstrap
}

# arm64 binaries run through qemu only once the kernel's binfmt_misc knows the qemu-aarch64 handler.
enable_binfmt() {
    local dir=/proc/sys/fs/binfmt_misc
    if [[ ! -e $dir/status ]]; then
        mount -t binfmt_misc binfmt_misc "$dir"
        MOUNTED_BINFMT=1
    fi
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    grep -qx enabled "$dir/qemu-aarch64" 2>/dev/null ||
        die "binfmt handler qemu-aarch64 is not enabled: check 'update-binfmts --display qemu-aarch64'"
}

# Every mount point under ROOT, deepest first, read from the kernel (also catches debootstrap's).
mounts_under_root() {
    awk -v root="$ROOT/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_root() {
    local point
    for point in $(mounts_under_root); do
        umount "$point" 2>/dev/null || umount -l "$point"
    done
}

# On exit, even a failed one: nothing of ours stays mounted.
clean_up() {
    unmount_root
    if ((MOUNTED_BINFMT)); then
        umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
        MOUNTED_BINFMT=0
    fi
}

# /proc with a Pi's cpuinfo over the host's, /sys and /dev: without a Pi-like cpuinfo and /sys,
# ai_edge_litert crashes or falls back to generic kernels while probing the CPU under qemu.
mount_device() {
    local cpu=$1
    mount -t proc proc "$ROOT/proc"
    mount --bind "$REPO/device/cpuinfo-$cpu.txt" "$ROOT/proc/cpuinfo"
    mount --bind /sys "$ROOT/sys"
    mount --bind /dev "$ROOT/dev"
}

# Runs a command inside the root on an emulated CPU with a clean environment: no host PIP_* or
# proxy variables and no host wheel folders leak in, as on a real Pi.
in_device() {
    local cpu=$1
    shift
    env -i QEMU_CPU="$cpu" HOME=/root PATH="$DEVICE_PATH" LANG=C.UTF-8 chroot "$ROOT" "$@"
}

mirror_url() {
    local sources=/etc/apt/sources.list.d/debian.sources
    local url
    url=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' "$sources" 2>/dev/null || true)
    echo "${url:-http://deb.debian.org/debian}"
}

build_root() {
    local stamp=$ROOT/.tfmodel-root-complete
    if ((FRESH)) || [[ ! -e $stamp ]]; then
        [[ -z $(mounts_under_root) ]] || die "$ROOT still has mounts; unmount them first"
        rm -rf --one-file-system "$ROOT"
    fi
    if [[ -e $stamp ]]; then
        say "arm64 $SUITE root: cached in $ROOT"
        return
    fi
    local start=$SECONDS mirror
    mirror=$(mirror_url)
    say "building the arm64 $SUITE root in $ROOT from $mirror (a few minutes, once)"
    mkdir -p "$ROOT"
    run_logged debootstrap-first debootstrap --arch=arm64 --variant=minbase --foreign \
        "$SUITE" "$ROOT" "$mirror"
    run_logged debootstrap-second in_device cortex-a72 /debootstrap/debootstrap --second-stage
    unmount_root
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mount_device cortex-a72
    run_logged apt-device-update in_device cortex-a72 apt-get update
    run_logged apt-device-install in_device cortex-a72 env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates
    # The host reaches PyPI through its own extra CAs; the Pi-like root must trust them too.
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null ||
        true
    run_logged ca-certificates in_device cortex-a72 update-ca-certificates
    in_device cortex-a72 apt-get clean
    unmount_root
    touch "$stamp"
    say "arm64 $SUITE root built in $((SECONDS - start)) s"
}

# The Python packages of each runtime's venv, as docs/devices.md has a Pi owner install them.
runtime_packages() {
    case $1 in
        ai_edge_litert) echo "-r /opt/tfmodel-check/edge/device/requirements-device.txt pytest" ;;
        tflite_runtime) echo "${TFLITE_RUNTIME_PACKAGES[*]} pytest" ;;
    esac
}

venv_dir() { [[ $1 == ai_edge_litert ]] && echo /root/tfmodel-edge || echo /root/tfmodel-edge-tflite; }

# Creates (or re-uses, when its package list is unchanged) one runtime's venv in the root.
install_device_venv() {
    local runtime=$1 venv packages
    venv=$(venv_dir "$runtime")
    packages="$(runtime_packages "$runtime") $(sha256sum <"$REPO/edge/device/requirements-device.txt")"
    if [[ -e $ROOT$venv/.packages ]] && [[ $(cat "$ROOT$venv/.packages") == "$packages" ]]; then
        say "device venv $venv ($runtime): cached"
        return
    fi
    local start=$SECONDS
    say "device venv $venv: pip install $(runtime_packages "$runtime")"
    rm -rf "$ROOT$venv"
    run_logged "venv-$runtime" in_device cortex-a72 python3 -m venv "$venv"
    # shellcheck disable=SC2046  # the package list is word-split on purpose
    run_logged "pip-$runtime" in_device cortex-a72 "$venv/bin/pip" install \
        --no-cache-dir $(runtime_packages "$runtime")
    echo "$packages" >"$ROOT$venv/.packages"
    say "device venv $venv built in $((SECONDS - start)) s"
}

# The same venvs for the x86 host: the reference outputs come from the same runtime versions.
install_host_venv() {
    local runtime=$1 venv=$CACHE/x86-venv-$1 packages
    packages="$(runtime_packages "$runtime") $(sha256sum <"$REPO/edge/device/requirements-device.txt")"
    if [[ -e $venv/.packages ]] && [[ $(cat "$venv/.packages") == "$packages" ]] && ((!FRESH)); then
        return
    fi
    say "x86 venv $venv: pip install $(runtime_packages "$runtime")"
    rm -rf "$venv"
    run_logged "venv-x86-$runtime" "$PYTHON" -m venv "$venv"
    # shellcheck disable=SC2046
    run_logged "pip-x86-$runtime" "$venv/bin/pip" install -q \
        $(runtime_packages "$runtime" | sed "s#/opt/tfmodel-check#$REPO#")
    echo "$packages" >"$venv/.packages"
}

# The model sets to check (MODELS, MOBILENET): EDGE_DIR when given, else a small digits run that
# this project trains and optimizes here; and the MobileNet set. Cached until the code that makes
# them changes.
build_model_sets() {
    local key run start=$SECONDS
    key=$(cd "$REPO" && {
        find tfmodel edge configs -type f \( -name '*.py' -o -name '*.yaml' \) -print0
        printf '%s\0' device/mobilenet_set.py benchmarks/edge_mobilenet.py device/brought_set.py \
            tests/brought_models.py tests/photos.py
    } | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
    run=$CACHE/models-$key
    MODELS=$run/edge
    MOBILENET=$run/mobilenet
    BROUGHT=$run/brought
    if [[ -e $MODELS/model.json && -e $MOBILENET/model.json && -e $BROUGHT/model.json ]] &&
        ((!FRESH)); then
        say "model sets: cached in $run"
    else
        say "model sets: training digits_mlp, a MobileNetV2 and a brought MobileNetV3Small, running edge.optimize into $run"
        rm -rf "$CACHE"/models-*
        run_logged train "$PYTHON" -m tfmodel.train --run-dir "$run" --epochs 3 --no-resume
        run_logged optimize "$PYTHON" -m edge.optimize "$run" \
            --variants int8,int8_io,pruned_int8 --set edge.prune_epochs=1
        run_logged mobilenet env -C "$REPO" PYTHONPATH="$REPO" "$PYTHON" \
            device/mobilenet_set.py "$MOBILENET"
        run_logged brought env -C "$REPO" PYTHONPATH="$REPO" "$PYTHON" \
            device/brought_set.py "$BROUGHT"
        say "model sets built in $((SECONDS - start)) s"
    fi
    if [[ -n ${EDGE_DIR:-} ]]; then
        [[ -e $EDGE_DIR/model.json ]] ||
            die "EDGE_DIR=$EDGE_DIR has no model.json: pass the edge/ folder of a run"
        MODELS=$EDGE_DIR
    fi
}

# Everything the device runs, copied fresh into the root: the one folder a Pi gets (edge/device,
# as docs/devices.md's copy step has it) and its TF-free tests, the prediction driver and the
# model set.
copy_payload() {
    local payload=$ROOT/opt/tfmodel-check
    rm -rf "$payload"
    mkdir -p "$payload/device" "$payload/edge" "$payload/tests/edge/device" \
        "${SETS[@]/#/$payload/}" "$payload/results"
    cp -r "$REPO/edge/device" "$payload/edge/"
    find "$payload/edge" -name __pycache__ -prune -exec rm -rf {} +
    cp "$REPO/tests/conftest.py" "$payload/tests/"
    cp "$REPO/tests/edge/conftest.py" "$payload/tests/edge/"
    cp "${DEVICE_TESTS[@]/#/$REPO/}" "$payload/tests/edge/device/"
    cp "$REPO/device/predict_set.py" "$payload/device/"
    cp -r "$MODELS"/. "$payload/digits/"
    cp -r "$MOBILENET"/. "$payload/mobilenet/"
    cp -r "$BROUGHT"/. "$payload/brought/"
    # One file also encrypted, beside its plain twin: each Pi decrypts it in memory and
    # compare.py wants its outputs bit-identical to the plain file's.
    (cd "$REPO" && "$PYTHON" -m edge.encrypt keygen --key "$payload/$ENCRYPTION_KEY" &&
        "$PYTHON" -m edge.encrypt encrypt "$payload/digits" "$ENCRYPTED_MODEL" --keep-plain \
            --key "$payload/$ENCRYPTION_KEY") >/dev/null || die "encrypting $ENCRYPTED_MODEL failed"
}

# Runs the edge tests, then predicts the fixed inputs, on one emulated CPU with one runtime.
run_on_device() {
    local cpu=$1 runtime=$2 label=$1-$2 venv start=$SECONDS
    venv=$(venv_dir "$runtime")
    local results=$ROOT/opt/tfmodel-check/results
    local here=(env -C /opt/tfmodel-check PYTHONPATH=/opt/tfmodel-check
        TFMODEL_EDGE_DIR=/opt/tfmodel-check/${SETS[0]}
        TFMODEL_DECRYPT_KEY=/opt/tfmodel-check/$ENCRYPTION_KEY)
    local rc=0
    in_device "$cpu" "${here[@]}" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "${DEVICE_TESTS[@]}" >"$results/$label.tests.log" 2>&1 || rc=$?
    echo "$rc" >"$results/$label.tests.rc"
    in_device "$cpu" "${here[@]}" "$venv/bin/python" device/predict_set.py "${SETS[@]}" \
        "results/$label" >"$results/$label.log" 2>&1 || true
    say "$cpu $runtime: $(tail -n 1 "$results/$label.tests.log") ($((SECONDS - start)) s)"
}

main() {
    parse_args "$@"
    require_root
    trap clean_up EXIT
    trap 'exit 130' INT TERM
    unmount_root # leftovers of a run that was killed before its trap could run
    local start=$SECONDS runtimes=(ai_edge_litert) cpu runtime
    [[ $SUITE == bookworm ]] && runtimes+=(tflite_runtime)
    [[ -n ${CHECK_RUNTIMES:-} ]] && read -r -a runtimes <<<"$CHECK_RUNTIMES"
    install_host_tools
    enable_binfmt
    build_root
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" # pip in the root resolves names as the host does
    build_model_sets
    copy_payload
    mount_device cortex-a72
    for runtime in "${runtimes[@]}"; do
        install_device_venv "$runtime"
        install_host_venv "$runtime"
    done
    say "ready in $((SECONDS - start)) s; x86 reference run"
    local results=$ROOT/opt/tfmodel-check/results
    for runtime in "${runtimes[@]}"; do
        (cd "$ROOT/opt/tfmodel-check" && PYTHONPATH=. TFMODEL_DECRYPT_KEY=$ENCRYPTION_KEY \
            "$CACHE/x86-venv-$runtime/bin/python" device/predict_set.py "${SETS[@]}" \
            "results/x86-$runtime") >"$results/x86-$runtime.log" 2>&1 ||
            die "x86 reference run failed: $results/x86-$runtime.log"
    done
    for cpu in "${CPUS[@]}"; do
        unmount_root
        mount_device "$cpu"
        for runtime in "${runtimes[@]}"; do
            run_on_device "$cpu" "$runtime"
        done
    done
    unmount_root
    say "device check ($SUITE) took $((SECONDS - start)) s; every output and log: $results"
    say "emulated timings are reported only: they say nothing about a real Pi's speed"
    local IFS=,
    "$PYTHON" "$REPO/device/compare.py" "$results" --cpus "${CPUS[*]}" --runtimes "${runtimes[*]}" \
        --deep "${SETS[1]},${SETS[2]}"
}

main "$@"
