import { MemoryStoresLive } from "../../src/adapters/embedded"
import { storeContract } from "./stores.contract"

storeContract("memory", () => MemoryStoresLive)
