// A small meme_api client typed by the types openapi-typescript generates from /openapi.json
// (src/schema.d.ts, made by `npm run generate`). `npm run check` type-checks it with tsc: when
// the document changes in a way this client does not follow, the check fails.
import type { components, paths } from "./schema";

export type Problem = components["schemas"]["Problem"];
export type Login = components["schemas"]["Login"];
export type Template = components["schemas"]["Template"];
export type TemplateList =
  paths["/template"]["get"]["responses"]["200"]["content"]["application/json"];
export type TemplateQuery = NonNullable<paths["/template"]["get"]["parameters"]["query"]>;
export type NewTemplate =
  paths["/template"]["post"]["requestBody"]["content"]["application/json"];
export type NotFound =
  paths["/template/{template_id}"]["get"]["responses"]["404"]["content"]["application/problem+json"];

/** Either the answer the operation documents for success, or its problem document. */
export type Answer<T> = { ok: true; status: number; body: T } | { ok: false; status: number; problem: Problem };

export class MemeClient {
  private token?: string;

  constructor(private readonly baseUrl: string, private readonly appToken: string) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { "x-application-token": this.appToken, ...extra };
    if (this.token) headers["x-access-token"] = this.token;
    return headers;
  }

  private async call<T>(method: string, path: string, body?: unknown,
                        extra: Record<string, string> = {}): Promise<Answer<T>> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: this.headers(body === undefined ? extra
                                               : { "Content-Type": "application/json", ...extra }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return { ok: true, status: response.status, body: (await response.json()) as T };
    return { ok: false, status: response.status, problem: (await response.json()) as Problem };
  }

  async login(username: string, password: string): Promise<Answer<Login>> {
    const answer = await this.call<Login>("GET", "/login", undefined,
                                          { Authorization: "Basic " + btoa(`${username}:${password}`) });
    if (answer.ok) this.token = answer.body.token;
    return answer;
  }

  listTemplates(query: TemplateQuery = {}): Promise<Answer<TemplateList>> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) search.set(name, Array.isArray(value) ? value.join(",") : String(value));
    }
    return this.call<TemplateList>("GET", `/template?${search}`);
  }

  createTemplate(template: NewTemplate): Promise<Answer<{ message: string; template: Template }>> {
    return this.call("POST", "/template", template);
  }

  getTemplate(id: number): Promise<Answer<{ template: Template }>> {
    return this.call("GET", `/template/${id}`);
  }
}

// What the types promise, checked by tsc.
export const pageMode: TemplateQuery = { page: 2, limit: 20, ordering: ["-posted"] };
export const cursorMode: TemplateQuery = { cursor: "", limit: 20 };
export const post: NewTemplate = { title: "Distracted boyfriend", url: "https://i.imgur.com/yYGxFJX.jpeg" };
export const notFound: NotFound = { type: "about:blank", title: "Not Found", status: 404,
                                    detail: "No post found", message: "No post found" };
// @ts-expect-error `page` is a number, not a string
export const wrongPage: TemplateQuery = { page: "2" };
// @ts-expect-error a template needs a url
export const noUrl: NewTemplate = { title: "no url" };

export function nextCursor(list: TemplateList): string | null | undefined {
  return "next_cursor" in list.meta ? list.meta.next_cursor : undefined;
}
