#!/usr/bin/env python3
"""Cold start of a Lambda bootstrap binary, measured locally.

Serves the Lambda Runtime API on 127.0.0.1, starts the binary as Lambda
would (AWS_LAMBDA_RUNTIME_API set, plus the caller's environment), hands it
one event and records the time from process start to its response: the
whole cold start (process start, SDK and pool set-up, warm-up connection,
first invocation). Repeats N times; prints and optionally writes figures.

usage: cold-start.py BINARY EVENT.json [--runs N] [--out FILE]
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading
import time


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    event = b"{}"
    served = threading.Event()
    answered = threading.Event()
    result = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if RuntimeApi.served.is_set():
            # Only one invocation per run: park the runtime until it is killed.
            time.sleep(30)
            return
        RuntimeApi.served.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-central-1:123456789012:function:bench")
        self.send_header("Content-Length", str(len(RuntimeApi.event)))
        self.end_headers()
        self.wfile.write(RuntimeApi.event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        RuntimeApi.result = {"path": self.path, "body": body.decode(errors="replace"), "at": time.perf_counter()}
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        RuntimeApi.answered.set()


def one_run(binary, event):
    RuntimeApi.event = event
    RuntimeApi.served.clear()
    RuntimeApi.answered.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    })
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = RuntimeApi.answered.wait(timeout=20)
    proc.kill()
    _, stderr = proc.communicate()
    server.shutdown()
    server.server_close()
    if not ok:
        raise SystemExit(f"{binary} gave no response in 20 s:\n{stderr.decode(errors='replace')[-2000:]}")
    return (RuntimeApi.result["at"] - started) * 1000, RuntimeApi.result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    with open(args.event, "rb") as f:
        event = f.read()
    timings = []
    last = None
    for _ in range(args.runs):
        ms, last = one_run(args.binary, event)
        timings.append(ms)
    kind = "error" if last["path"].endswith("/error") else "response"
    line = (f"{os.path.basename(args.binary)}: cold start to first {kind} "
            f"median {statistics.median(timings):.1f} ms, min {min(timings):.1f} ms, "
            f"max {max(timings):.1f} ms over {args.runs} runs; size {os.path.getsize(args.binary) / 1e6:.1f} MB")
    print(line)
    if kind == "error":
        print("  error body:", last["body"][:500])
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
