"""`topograph scan`: namespaces that exist -> a topology file. read (kernel) -> data -> build (document and
notes) -> write (YAML); nftmap maps nft's JSON rules, peers matches veth pairs, targets names what to read."""
