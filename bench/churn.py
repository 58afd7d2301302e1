"""Churn for the benchmarks (bench/soak.sh, bench/run.sh): RATE loopback connections a second, each
opened and closed by the client, to listeners this script serves on 127.0.2.1-4:8080, so about
RATE x 60 TIME_WAIT sockets stand at any time. Run it inside the namespace under test:

    ip netns exec NS python3 bench/churn.py RATE

It runs until SIGTERM, then prints "N connections in S s: R/s" on stdout.
"""
import signal, socket, sys, threading, time
rate = int(sys.argv[1])
# Four destinations, so that TIME_WAIT (about 60 s of churn) spreads over four port spaces.
dests = [(f"127.0.2.{i}", 8080) for i in range(1, 5)]
def serve(server):
    while True:
        conn, _ = server.accept()
        conn.close()
for dest in dests:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(dest)
    server.listen(4096)
    threading.Thread(target=serve, args=(server,), daemon=True).start()
done = 0
start = time.monotonic()
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
while not stop:
    due = start + done / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    try:
        c = socket.create_connection(dests[done % len(dests)])
        c.close()
    except OSError as e:
        print(f"churn: {e}", file=sys.stderr)
        time.sleep(0.01)
    done += 1
elapsed = time.monotonic() - start
print(f"{done} connections in {elapsed:.0f} s: {done / elapsed:.0f}/s", flush=True)
