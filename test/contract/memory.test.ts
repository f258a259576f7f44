import { MemoryStoresLive } from "../../src/stores/memory"
import { storeContract } from "./stores.contract"

storeContract("memory", () => MemoryStoresLive)
