import { memoryStoresWith } from "../../src/adapters/embedded"
import { storeContract, TEST_KEK } from "./stores.contract"

storeContract("memory", () => memoryStoresWith(TEST_KEK))
