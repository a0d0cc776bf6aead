/**
 * Named items that configs and the CLI refer to (loaders, templates, rewards, advantage estimators, policy
 * losses), in registration order. Errors name the kind of item and list the known names.
 */
export class Registry<T> {
  private readonly items = new Map<string, T>()

  /**
   * @param item how a duplicate is named: "a reward", "an advantage estimator"
   * @param kind how an unknown name is named: "reward", "format"
   * @param known the head of the list of names in that error: "known", "known formats"
   */
  constructor(
    private readonly item: string,
    private readonly kind: string,
    private readonly known = 'known',
  ) {}

  register(name: string, value: T): void {
    if (this.items.has(name)) throw new Error(`${this.item} named "${name}" is already registered`)
    this.items.set(name, value)
  }

  get(name: string): T {
    const v = this.items.get(name)
    if (v === undefined) throw new Error(`unknown ${this.kind} "${name}"; ${this.known}: ${this.names().join(', ')}`)
    return v
  }

  names(): string[] {
    return [...this.items.keys()]
  }

  values(): T[] {
    return [...this.items.values()]
  }
}
