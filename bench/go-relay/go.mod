module connectors.bench/go-relay

go 1.22
