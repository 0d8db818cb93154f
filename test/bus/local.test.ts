// The one-node bus keeps today's delivery through Bun's topics; membership is a no-op.
import { localBus } from "../../src/bus/local";
import { runBusContract } from "./contract";

runBusContract({ name: "local", maxNodes: 1, link: async () => ({ open: (server) => localBus(server) }) });
