/** Provisions every real dependency testkit can start (placeholder until MLflow and Toxiproxy land). */
export async function provisionAll(): Promise<void> {}
