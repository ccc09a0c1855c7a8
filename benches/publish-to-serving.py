#!/usr/bin/env python3
"""From a `recd train` publish to the daemon serving the new version, with
no manual reload: the time between the `current` symlink's change (its
mtime, set by the publish's rename) and the first `health` reply naming the
new version, polled every 2 ms on the daemon's socket. Two paths, ROUNDS
runs each: `recd train` telling the daemon (the default) and
`recd train --no-reload` (the daemon notices `current` by itself). Then an
idle daemon with a schedule: its CPU seconds and context switches (its
wake-ups) over IDLE seconds, from /proc.

    RECD_DATASETS=../shared/datasets benches/publish-to-serving.py BIN_DIR [ROUNDS] [IDLE]

BIN_DIR holds `recd` (e.g. target/release). Prints one line per run and
the medians.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def health(sock_path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        s.sendall(b'{"id":1,"method":"health"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)["result"]


def serving(sock_path):
    model = health(sock_path).get("model")
    return model and model["version"]


def cpu_and_switches(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except FileNotFoundError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK"), switches


def main():
    bins = os.path.realpath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    idle = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    part = os.path.join(os.environ["RECD_DATASETS"], "ml-1m-part")
    work = tempfile.mkdtemp()
    data = os.path.join(work, "data")
    os.makedirs(data)
    os.symlink(os.path.join(part, "split90", "train.dat"), os.path.join(data, "ratings.dat"))
    os.symlink(os.path.join(part, "movies.dat"), os.path.join(data, "movies.dat"))
    sock = os.path.join(work, "recd.sock")
    config = os.path.join(work, "recd.toml")
    with open(config, "w") as f:
        f.write(
            f"""[paths]
dataset = "{data}"
dataset_url = ""
models_dir = "{work}/models"
state_dir = "{work}/state"
[training]
n_epochs = 5
[daemon]
socket = "{sock}"
admin_group = ""
[logging]
dir = "{work}/logs"
[schedule]
mode = "daily"
at = "02:00"
"""
        )
    recd = os.path.join(bins, "recd")
    subprocess.run([recd, "train", "--config", config], check=True, stdout=subprocess.DEVNULL)
    daemon = subprocess.Popen([recd, "--config", config], stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if serving(sock):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("the daemon did not start")
            time.sleep(0.05)

        results = {}
        for label, extra in (("told", []), ("noticed", ["--no-reload"])):
            times = []
            for _ in range(rounds):
                before = serving(sock)
                seen = {}

                def poll():
                    while True:
                        v = serving(sock)
                        if v != before:
                            seen["at"], seen["version"] = time.time(), v
                            return
                        time.sleep(0.002)

                poller = threading.Thread(target=poll)
                poller.start()
                subprocess.run(
                    [recd, "train", "--config", config, *extra],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                poller.join(timeout=30)
                current = os.path.join(work, "models", "current")
                published = os.lstat(current).st_mtime
                version = os.readlink(current).removesuffix(".recd")
                if seen.get("version") != version:
                    sys.exit(f"{label}: serving {seen.get('version')}, published {version}")
                ms = (seen["at"] - published) * 1000
                times.append(ms)
                print(f"{label:8} {version}  published -> serving {ms:8.1f} ms")
            results[label] = statistics.median(times)
        for label, median in results.items():
            print(f"median {label:8} {median:8.1f} ms over {rounds} runs")

        # Past the runtime's blocking threads' 10 s keep-alive, so none
        # exits (taking its counts with it) during the measurement.
        time.sleep(15)
        cpu0, sw0 = cpu_and_switches(daemon.pid)
        time.sleep(idle)
        cpu1, sw1 = cpu_and_switches(daemon.pid)
        print(
            f"idle {idle} s with a schedule (next run {health(sock).get('next_run')}): "
            f"{cpu1 - cpu0:.2f} CPU s, {sw1 - sw0} context switches "
            f"({(sw1 - sw0) * 60 / idle:.0f} wake-ups per minute)"
        )
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
