/** The permissions dripline asks for. */
export type Permission = 'campaigns.create' | 'campaigns.send' | 'campaigns.read';

/** Who is asking, as the application knows them. */
export interface Principal {
  id: string;
  tenantId: string;
  [key: string]: unknown;
}

/** Decides whether a principal may do something. Throwing or returning `false` refuses. */
export interface Authorizer {
  /**
   * @param principal Who asks.
   * @param permission What they ask to do.
   * @param resource The campaign concerned, when there is one.
   * @returns `true` to allow.
   */
  authorize(principal: Principal, permission: Permission, resource?: { tenantId: string; campaignId?: string }): Promise<boolean>;
}
