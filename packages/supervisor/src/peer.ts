/** A storage node as the metasrv addresses it. */
export interface Peer {
  id: string;
  address: string;
}

/** Finds a node by id; undefined when the node is unknown. */
export interface PeerLookup {
  node(nodeId: string): Promise<Peer | undefined>;
}
