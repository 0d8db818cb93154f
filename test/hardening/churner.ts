export {}; // a module: top-level await
// A churning attacker, run as its own process (so that its loop does not share the test's event
// loop with the bystander it is measured against): `sockets` WebSockets from this machine's
// address, each looping connect -> join -> close for `seconds`, never sending a message. Prints
// what happened as one JSON line: cycles, joins admitted (a history came), joins refused.
const [url, seconds = "3", sockets = "20"] = process.argv.slice(2);
const until = performance.now() + Number(seconds) * 1000;
const stats = { cycles: 0, admitted: 0, refused: 0, failed: 0 };

function cycle(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url!);
    ws.onopen = () => ws.send(JSON.stringify({ type: "join", name: "churner" }));
    ws.onmessage = (event) => {
      const frame = JSON.parse(String(event.data));
      if (frame.type === "history") stats.admitted++;
      else if (frame.code === "rate_limited") stats.refused++;
      ws.close();
    };
    ws.onerror = () => stats.failed++;
    ws.onclose = () => {
      stats.cycles++;
      resolve();
    };
  });
}

async function loop() {
  while (performance.now() < until) await cycle();
}

await Promise.all(Array.from({ length: Number(sockets) }, loop));
console.log(JSON.stringify(stats));
