// The one-node directory: only its own rosters, counted as a cluster would count them.
import { localPresence } from "../../src/bus/local-presence";
import { runPresenceContract } from "./presence-contract";

runPresenceContract({ name: "local", maxNodes: 1, link: async () => ({ open: (node) => localPresence(node) }) });
