import { startPostgres } from "/work/wt/pg/test/pg";
const pg = await startPostgres();
const url = await pg.createDatabase();
console.log(url);
process.on("SIGTERM", async () => { await pg.stop(); process.exit(0); });
setInterval(() => {}, 1 << 30);
