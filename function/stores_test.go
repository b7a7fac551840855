package function_test

// storeFactories lists the stores the pipeline tests run against. The Cosmos
// DB store joins when the Cosmos-protocol server is available.
func storeFactories() []storeFactory {
	return []storeFactory{boltFactory()}
}
